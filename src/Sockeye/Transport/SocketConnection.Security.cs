using System.Net;
using Sockeye.Security.Internal;

namespace Sockeye.Transport;

/// <summary>What the server's edge checks record on a connection before its handler starts.</summary>
internal sealed partial class SocketConnection
{
    /// <summary>The PROXY header, the per-address count and the TLS layer of this connection; one
    /// reference, created only on a server with edge checks, so a plain connection pays 8 bytes.</summary>
    internal EdgeState? Edge { get; set; }

    /// <summary>Replaces the peer's address with the original client's from a PROXY header.
    /// Called before the handler starts, on the connection's own task.</summary>
    internal void SetRemoteEndPoint(EndPoint remoteEndPoint) => _remoteEndPoint = remoteEndPoint;
}
