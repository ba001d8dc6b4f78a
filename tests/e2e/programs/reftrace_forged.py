# A class named to forge lines (type() takes any name): three objects made
# and freed. Escaped, each NEW/DEL stays one line (docs/LOGS.md).
T = type("T\nDEL:\tx", (), {})
objs = [T() for _ in range(3)]
del objs
print("done")
