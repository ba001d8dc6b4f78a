"""A threading.Thread started while the program is traced allocates 20 MB."""
import threading


def thread_worker_alloc():
    buf = bytearray(20 * 1024 * 1024)
    for i in range(0, len(buf), 4096):
        buf[i] = 1
    return len(buf)


def main():
    seen = {}

    def runner():
        seen["native_id"] = threading.get_native_id()
        seen["size"] = thread_worker_alloc()

    t = threading.Thread(target=runner, name="pmt-worker")
    t.start()
    t.join()
    print("main_native_id=%d worker_native_id=%d size=%d"
          % (threading.get_native_id(), seen["native_id"], seen["size"]), flush=True)


if __name__ == "__main__":
    main()
