#!/usr/bin/env python3
"""forward.py PORT HOST:PORT: forwards 127.0.0.1:PORT to HOST:PORT (TCP), like `ssh -L` or
`kubectl port-forward`. scripts/cluster.sh runs it on its submit host: a prism job server
advertises its artifact-staging endpoint as localhost:PORT, so a submitter on another machine
reaches it through such a forward."""
import asyncio
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def main(port, target):
    host, tport = target.rsplit(":", 1)

    async def handle(r, w):
        try:
            tr, tw = await asyncio.open_connection(host, int(tport))
        except OSError:
            w.close()
            return
        await asyncio.gather(pipe(r, tw), pipe(tr, w), return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
