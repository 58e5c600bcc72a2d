using Sockeye.Security.Internal;
using Sockeye.Transport;

namespace Sockeye.Security;

/// <summary>What the server's edge learned about a connection before its handler started: the PROXY
/// protocol header and the TLS handshake.</summary>
public static class ConnectionSecurityExtensions
{
    /// <summary>The PROXY protocol header the connection started with, or <see langword="null"/> when
    /// the listener does not use the PROXY protocol.</summary>
    /// <param name="connection">A connection accepted by <see cref="TcpServer"/>.</param>
    public static ProxyProtocolInfo? GetProxyProtocolInfo(this Connection connection) => connection switch
    {
        SocketConnection socket => EdgeState.Of(socket)?.ProxyProtocol,
        TlsConnection tls => EdgeState.Of(tls.Transport)?.ProxyProtocol,
        _ => null,
    };

    /// <summary>What the TLS handshake settled, or <see langword="null"/> on a plain TCP connection.</summary>
    /// <param name="connection">A connection accepted by <see cref="TcpServer"/>.</param>
    public static TlsConnectionInfo? GetTlsInfo(this Connection connection) => (connection as TlsConnection)?.Info;
}
