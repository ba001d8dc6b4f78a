# Reference tracing's default rule is cPyMemTrace's (include_builtins=False):
# an object is skipped when one of CPython's type checks calls it builtin,
# some matching the type only (PyBool_Check, PySlice_Check, ...), the others
# subclasses too (PyLong_Check, PyTuple_Check, PyDict_Check, ...); among the
# iterators only PySeqIter's and PyCallIter's count. This program makes one
# object of each kind, each on a line of its own, and prints for each what
# that rule (written here in Python, from the same checks) says:
#   EXPECT <line> <type name> <1: logged | 0: skipped>
# The test finds a NEW line of that type at that line exactly when 1.
import collections
import enum
import os
import pickle
import sys
import types
import weakref

EXACT = [bool, slice, range, types.MethodType, types.FunctionType, types.CellType,
         types.FrameType, types.CodeType, types.TracebackType, memoryview,
         weakref.ProxyType, weakref.CallableProxyType, pickle.PickleBuffer]
BASES = (float, int, complex, str, bytes, bytearray, tuple, list, dict, type({}.keys()),
         type({}.values()), type({}.items()), collections.OrderedDict, frozenset, set,
         types.GeneratorType, types.ModuleType, weakref.ref, types.BuiltinFunctionType,
         BaseException)


class Seq:
    def __getitem__(self, i):
        if i > 2:
            raise IndexError
        return i


SEQ_ITER = type(iter(Seq()))
CALL_ITER = type(iter(int, 1))
EXACT += [SEQ_ITER, CALL_ITER]


def builtin(o):
    return type(o) in EXACT or isinstance(o, BASES)


Point = collections.namedtuple("Point", "x y")


class Color(enum.IntEnum):
    RED = 1


class MyStr(str):
    pass


class MyFloat(float):
    pass


class MyList(list):
    pass


class MyDict(dict):
    pass


class MySet(set):
    pass


class MyError(ValueError):
    pass


class Plain:
    def method(self):
        pass


def gen():
    yield 1


async def coro():
    pass


async def agen():
    yield 1


def closure():
    x = [1]

    def inner():
        return x

    return inner


here = []
n = 10**30
plain = Plain()


def keep(o):
    line = sys._getframe(1).f_lineno
    here.append((line, o))


def run():
    keep(n * 3)                                  # int
    keep(1.5 * len(here))                        # float
    keep(complex(len(here), 1))                  # complex
    keep("-".join(["a", str(len(here))]))        # str
    keep(b"x" * (len(here) + 100))               # bytes
    keep(bytearray(len(here)))                   # bytearray
    keep(tuple(range(len(here) + 3)))            # tuple
    keep([len(here)])                            # list
    keep({len(here): 1})                         # dict
    keep({1: 2}.keys())                          # dict_keys
    keep({1: 2}.values())                        # dict_values
    keep({1: 2}.items())                         # dict_items
    keep(collections.OrderedDict(a=1))           # OrderedDict
    keep(frozenset([len(here), 99]))             # frozenset
    keep({len(here), 98})                        # set
    keep(slice(1, len(here)))                    # slice
    keep(range(len(here) + 10**20))              # range (a long range: made, not cached)
    keep(plain.method)                           # method
    keep(lambda: 1)                              # function
    keep(closure().__closure__[0])               # cell
    keep(iter(Seq()))                            # iterator (PySeqIter)
    keep(iter(int, 1))                           # callable_iterator
    keep(gen())                                  # generator
    keep(types.ModuleType("m"))                  # module
    keep(ValueError("v"))                        # exception instance
    keep(weakref.ref(plain))                     # weakref.ref
    keep(weakref.proxy(plain))                   # weakproxy
    keep(memoryview(b"abc"))                     # memoryview
    keep(pickle.PickleBuffer(b"abc"))            # PickleBuffer
    keep([].append)                              # builtin_function_or_method
    keep(Point(1, 2))                            # namedtuple: a tuple subclass
    keep(collections.defaultdict(list))          # defaultdict: a dict subclass
    keep(collections.Counter("ab"))              # Counter: a dict subclass
    keep(int.__new__(Color, 7))                  # IntEnum: an int subclass
    keep(MyStr("s"))                             # str subclass
    keep(MyFloat(2.5))                           # float subclass
    keep(MyList([1]))                            # list subclass
    keep(MyDict(a=1))                            # dict subclass
    keep(MySet([1]))                             # set subclass
    keep(MyError("e"))                           # exception subclass
    keep(os.stat("."))                           # structseq: a tuple subclass
    keep(os.times())                             # structseq
    keep(iter([1]))                              # list_iterator: logged
    keep(iter((1,)))                             # tuple_iterator: logged
    keep(iter({1}))                              # set_iterator: logged
    keep(iter("ab"))                             # str_ascii_iterator: logged
    keep(iter({1: 2}))                           # dict_keyiterator: logged
    keep(iter(range(3)))                         # range_iterator: logged
    keep(enumerate([1]))                         # enumerate: logged
    keep(zip([1], [2]))                          # zip: logged
    keep(map(abs, [1]))                          # map: logged
    keep(filter(None, [1]))                      # filter: logged
    keep(reversed([1]))                          # list_reverseiterator: logged
    c = coro()
    keep(c)                                      # coroutine: logged
    c.close()
    keep(agen())                                 # async_generator: logged
    keep(Plain())                                # a class of the program's: logged


run()
for line, o in here:
    t = type(o)
    # Coroutines and async generators are made in their own first frame, at
    # their def line, on 3.13 and later.
    code = getattr(o, "cr_code", None) or getattr(o, "ag_code", None)
    if code is not None:
        line = code.co_firstlineno
    print("EXPECT %d %s %d" % (line, t.__name__, 0 if builtin(o) else 1))
print("done")
