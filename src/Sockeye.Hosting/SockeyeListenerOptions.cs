using System.Net;
using Sockeye.Udp;

namespace Sockeye.Hosting;

/// <summary>
/// One listener's settings: where it listens, which built-in protocol it serves when no handler is set
/// in code, and every <see cref="TcpServerOptions"/> option (for a UDP listener, every
/// <see cref="UdpServerOptions"/> option instead). Bound from the configuration section
/// <c>Sockeye:Listeners:NAME</c>, where the server options sit beside <c>Host</c> and <c>Port</c>
/// (<c>Sockeye:Listeners:echo:MaxConnections</c>, not <c>...:Server:MaxConnections</c>).
/// </summary>
public sealed class SockeyeListenerOptions
{
    /// <summary>The address to listen on: an IP address, <c>localhost</c> (127.0.0.1) or <c>*</c>
    /// (every IPv4 and IPv6 interface).</summary>
    /// <remarks>Default: <c>127.0.0.1</c>, so that a listener is not exposed to the network until its
    /// configuration says so.</remarks>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>The port to listen on; 0 lets the kernel pick one (read it back from
    /// <see cref="SockeyeListener.LocalEndPoint"/>).</summary>
    /// <remarks>Default: 0.</remarks>
    public int Port { get; set; }

    /// <summary>The built-in protocol the listener serves when no handler is set in code (<c>echo</c>,
    /// <c>udp-echo</c>, or one added with <see cref="SockeyeBuilder.AddProtocol(string, Func{IServiceProvider, IConnectionHandler})"/>
    /// or <see cref="SockeyeBuilder.AddUdpProtocol(string, Func{IServiceProvider, IDatagramHandler})"/>).
    /// The protocol decides whether the listener is TCP or UDP.</summary>
    /// <remarks>Default: <see langword="null"/>; required for a listener that only the configuration
    /// describes.</remarks>
    public string? Protocol { get; set; }

    /// <summary>The name of a socket systemd passed to this process (socket activation: the
    /// <c>.socket</c> unit's <c>FileDescriptorName=</c>, or the unit's name without it) to accept on
    /// instead of binding <see cref="Host"/> and <see cref="Port"/>; <see langword="null"/> binds.</summary>
    /// <remarks>Default: <see langword="null"/>. systemd owns the socket, so a restart of the service
    /// refuses no connection (they wait in its queue). The start fails, naming the sockets systemd did
    /// pass, when none has this name. TCP listeners only. To accept on a descriptor by number, set the
    /// server option <see cref="TcpServerOptions.ListenFd"/> instead (<c>Sockeye:Listeners:NAME:ListenFd</c>).</remarks>
    public string? SystemdSocket { get; set; }

    /// <summary>The server's options (limits, timeouts, buffers). <see cref="TcpServerOptions.EndPoint"/>
    /// is replaced by <see cref="Host"/> and <see cref="Port"/>, and <see cref="TcpServerOptions.LoggerFactory"/>
    /// by the host's logging, when the listener starts.</summary>
    public TcpServerOptions Server { get; } = new();

    /// <summary>A UDP listener's server options (datagram size, handler limit, sockets, buffers); unused by
    /// TCP listeners. <see cref="UdpServerOptions.EndPoint"/> is replaced by <see cref="Host"/> and
    /// <see cref="Port"/>, and <see cref="UdpServerOptions.LoggerFactory"/> by the host's logging, when the
    /// listener starts.</summary>
    public UdpServerOptions Udp { get; } = new();

    /// <summary>Parses <see cref="Host"/>; <see langword="null"/> when it is not an address.</summary>
    internal IPAddress? ParseHost() => Host.Trim().ToLowerInvariant() switch
    {
        "localhost" => IPAddress.Loopback,
        "*" => IPAddress.IPv6Any,
        var text => IPAddress.TryParse(text, out var address) ? address : null,
    };
}
