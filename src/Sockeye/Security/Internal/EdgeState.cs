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
}
