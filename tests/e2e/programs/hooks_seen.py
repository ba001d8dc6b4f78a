# What a program sees of the profile and trace functions, in the main thread
# and in a thread it starts: without the agent, None everywhere.
import sys
import threading

seen = []


def look(where):
    seen.append((where, sys.getprofile(), sys.gettrace()))
    if hasattr(threading, "getprofile"):
        seen.append((where + " threading", threading.getprofile(), threading.gettrace()))


look("main")
t = threading.Thread(target=look, args=("thread",))
t.start()
t.join()
for s in seen:
    print(*s)
print("done")
