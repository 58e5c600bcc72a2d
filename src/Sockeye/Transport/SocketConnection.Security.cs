using System.Net;

namespace Sockeye.Transport;

/// <summary>What the server's edge checks record on a connection before its handler starts.</summary>
internal sealed partial class SocketConnection
{
    /// <summary>What the edge gate recorded on this connection (its PROXY header, the per-address count
    /// and the TLS layer: <c>Security.Internal.EdgeState</c>); one reference, set only on a server with
    /// edge checks, so a plain connection pays 8 bytes. Opaque here: the transport carries it but
    /// never reads it, so it does not depend on the security layer (ARCHITECTURE.md, "Layers"); the
    /// edge code reads it through <c>EdgeState.Of</c>.</summary>
    internal object? EdgeAttachment { get; set; }

    /// <summary>Replaces the peer's address with the original client's from a PROXY header.
    /// Called before the handler starts, on the connection's own task.</summary>
    internal void SetRemoteEndPoint(EndPoint remoteEndPoint) => _remoteEndPoint = remoteEndPoint;
}
