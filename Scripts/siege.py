#!/usr/bin/env python3
"""Attacks without a credential, for Scripts/bench-siege.sh, written from docs/PROTOCOL.md alone.

  siege.py flood PORT COUNT ADDRESSES SECONDS [FIRST]
                                                COUNT TCP connections from 127.0.0.FIRST.. (default
                                                2) that never send a byte, reopened as the server
                                                closes them
  siege.py guess PORT DEVICE_HEX SECONDS         25 parallel hellos for DEVICE with wrong proofs,
                                                over TLS, from 127.0.0.30, again and again

Only loopback addresses are used. Prints one summary line when it stops (after SECONDS).
"""
import os
import resource
import selectors
import socket
import ssl
import sys
import threading
import time


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def frame(kind: int, payload: bytes) -> bytes:
    header = len(payload).to_bytes(4, "big") + bytes([kind, 0]) + (0).to_bytes(4, "big")
    return header + crc32c(header + payload).to_bytes(4, "big") + payload


def field(number: int, value: bytes) -> bytes:
    return bytes([(number << 3) | 2, len(value)]) + value


PREFACE = b"ORGS\r\n\x01\x00"


def flood(port: int, count: int, addresses: int, seconds: float, first: int = 2) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (count + 1000, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    selector = selectors.DefaultSelector()
    opened = closed = failed = 0

    def open_one(i: int) -> None:
        nonlocal opened, failed
        s = socket.socket()
        try:
            s.bind((f"127.0.0.{first + i % addresses}", 0))
            s.connect(("127.0.0.1", port))
        except OSError:
            failed += 1
            s.close()
            return
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ, i)
        opened += 1

    for i in range(count):
        open_one(i)
    end = time.time() + seconds
    while time.time() < end:
        for key, _ in selector.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:  # closed by the server: take its place again
                selector.unregister(s)
                s.close()
                closed += 1
                open_one(key.data)
    print(f"flood: {count} held from {addresses} addresses; opened {opened}, closed by the server {closed}, "
          f"failed to connect {failed}")


def guess(port: int, device: bytes, seconds: float) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    end = time.time() + seconds
    tries = [0]
    lock = threading.Lock()

    def worker() -> None:
        while time.time() < end:
            try:
                raw = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=("127.0.0.30", 0))
                with context.wrap_socket(raw) as s:
                    hello = (bytes([0x08, 1]) + field(3, device) + field(4, os.urandom(32))
                             + field(5, os.urandom(32)))
                    s.sendall(PREFACE + frame(0x01, hello))
                    while s.recv(65536):
                        pass
            except OSError:
                pass
            with lock:
                tries[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"guess: {tries[0]} wrong proofs for one device from 127.0.0.30")


if __name__ == "__main__":
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "flood":
        flood(port, int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]) if len(sys.argv) > 6 else 2)
    elif mode == "guess":
        guess(port, bytes.fromhex(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(__doc__)
