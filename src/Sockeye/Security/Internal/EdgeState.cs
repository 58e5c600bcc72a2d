using System.Net;

namespace Sockeye.Security.Internal;

/// <summary>What the edge checks learned about one connection and must undo or use at its end.</summary>
internal sealed class EdgeState
{
    /// <summary>The PROXY protocol header the connection started with.</summary>
    public ProxyProtocolInfo? ProxyProtocol { get; set; }

    /// <summary>The client address counted for <see cref="TcpServerOptions.MaxConnectionsPerIp"/>, given back at the end.</summary>
    public IPAddress? CountedAddress { get; set; }

    /// <summary>The TLS layer the handler used; it closes the connection.</summary>
    public TlsConnection? Tls { get; set; }

    /// <summary>What the edge gate recorded on <paramref name="connection"/>, or null: the transport
    /// holds it as an opaque attachment (a type check on a sealed class, no allocation).</summary>
    public static EdgeState? Of(Transport.SocketConnection connection) => connection.EdgeAttachment as EdgeState;

    /// <summary>The edge state of <paramref name="connection"/>, created on first use.</summary>
    public static EdgeState For(Transport.SocketConnection connection)
    {
        if (connection.EdgeAttachment is not EdgeState edge)
        {
            edge = new EdgeState();
            connection.EdgeAttachment = edge;
        }

        return edge;
    }
}
