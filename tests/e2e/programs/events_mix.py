# Events of many kinds (generators, exceptions, comprehensions, a coroutine,
# C calls through method descriptors, json, re): under PYMEMTRACE_HOOKS=legacy
# and through sys.monitoring the logs must hold the same events.
import json, collections, re
def gen(n):
    for i in range(n):
        yield i * 2
def boom(x):
    if x % 3 == 0:
        raise ValueError(x)
    return x
class A:
    def m(self, v):
        l = []
        l.append(v)
        l.extend([1, 2])
        return sorted(l)
res = []
for v in gen(20):
    try:
        res.append(boom(v))
    except ValueError as e:
        res.append(-1)
a = A()
for i in range(5): a.m(i)
d = collections.Counter("abracadabra")
s = json.dumps({"a": [1, 2, 3], "b": {"c": "d"}})
json.loads(s)
re.findall(r"\w+", "hello world foo")
x = [i for i in range(10) if i % 2]
it = iter([1, 2]); next(it); next(it)
try:
    next(it)
except StopIteration:
    pass
while len(res) < 40: res.append(0)
async def co(): return 1
c = co()
try:
    c.send(None)
except StopIteration:
    pass
print(len(res))
