#!/usr/bin/python3
"""A Modbus server on pymodbus, a third-party implementation, for the tests
of protocols/modbus (see pymodbus_test.go there).

Usage: pymodbus_server.py PORT [--framer socket|rtu] [--timeout SECONDS]

Listens on 127.0.0.1:PORT and serves unit ids 1 and 2 with the known values
below; any other unit id gets pymodbus's "gateway target failed to respond"
exception. --framer rtu speaks RTU framing over TCP instead of Modbus TCP.
Exits when its stdin closes (the test process ends) or after --timeout, so
it never outlives a test. Run it with Debian's /usr/bin/python3, which has
python3-pymodbus.

Layout of unit N (N = 1 or 2), zero-based protocol addresses:
  holding 0-1   float32 ABCD  123.456 * N
  holding 2-3   float32 CDAB  1013.25 + N
  holding 4-5   int32   ABCD  -123456789 * N
  holding 6     uint16        status bits: 0x8005 (N=1), 0x0002 (N=2)
  holding 7-14  string        "WoTChain-N", high byte first, NUL padded
  holding 15    int16         -300 * N
  input   0-3   float64 ABCD  6.02214076e23 * N
  input   4     uint16        4200 + N
  coils   0-3   1011 (N=1), 0100 (N=2)
  discrete 0-2  110 (N=1), 001 (N=2)
"""

import argparse
import asyncio
import logging
import struct
import sys
import threading
import types


def stub_serial():
    """pymodbus.server imports pyserial and pyserial-asyncio at load time but
    uses them only for serial servers; Debian's python3-pymodbus merely
    recommends them. Stand-ins let the TCP server load without them."""
    for name in ("serial", "serial_asyncio"):
        try:
            __import__(name)
        except ImportError:
            stub = types.ModuleType(name)
            stub.create_serial_connection = None
            sys.modules[name] = stub


stub_serial()

from pymodbus.datastore import (  # noqa: E402
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.framer.rtu_framer import ModbusRtuFramer  # noqa: E402
from pymodbus.framer.socket_framer import ModbusSocketFramer  # noqa: E402
from pymodbus.server.async_io import ModbusTcpServer  # noqa: E402


def words(fmt, value):
    """Big-endian 16-bit words of value packed with struct format fmt."""
    raw = struct.pack(">" + fmt, value)
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


def swap_words(ws):
    """CDAB: the same words, low word first."""
    return list(reversed(ws))


def text(s, registers):
    raw = s.encode("ascii").ljust(2 * registers, b"\0")
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


def unit(n):
    holding = (
        words("f", 123.456 * n)
        + swap_words(words("f", 1013.25 + n))
        + words("i", -123456789 * n)
        + [0x8005 if n == 1 else 0x0002]
        + text("WoTChain-%d" % n, 8)
        + words("h", -300 * n)
    )
    inputs = words("d", 6.02214076e23 * n) + [4200 + n]
    coils = [True, False, True, True] if n == 1 else [False, True, False, False]
    discrete = [True, True, False] if n == 1 else [False, False, True]
    return ModbusSlaveContext(
        hr=ModbusSequentialDataBlock(0, holding),
        ir=ModbusSequentialDataBlock(0, inputs),
        co=ModbusSequentialDataBlock(0, coils),
        di=ModbusSequentialDataBlock(0, discrete),
        zero_mode=True,
    )


async def serve(port, framer, timeout):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def wait_stdin():
        sys.stdin.buffer.read()  # returns when the parent closes the pipe or exits
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_stdin, daemon=True).start()
    context = ModbusServerContext(slaves={1: unit(1), 2: unit(2)}, single=False)
    server = ModbusTcpServer(context, framer, address=("127.0.0.1", port), allow_reuse_address=True)
    task = asyncio.create_task(server.serve_forever())
    try:
        await asyncio.wait_for(stop.wait(), timeout)
    except asyncio.TimeoutError:
        print("pymodbus_server: timeout, exiting", file=sys.stderr)
    await server.shutdown()
    task.cancel()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--framer", choices=["socket", "rtu"], default="socket")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--verbose", action="store_true", help="log pymodbus's errors (every exception it sends, every hang-up)")
    args = parser.parse_args()
    # pymodbus configures the root logger when imported; quieten it there.
    logging.getLogger().setLevel(logging.WARNING if args.verbose else logging.CRITICAL)
    framer = ModbusRtuFramer if args.framer == "rtu" else ModbusSocketFramer
    asyncio.run(serve(args.port, framer, args.timeout))


if __name__ == "__main__":
    main()
