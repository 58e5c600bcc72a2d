using System.Net;
using Sockeye.Server;
using Sockeye.Udp;

namespace Sockeye.Hosting;

/// <summary>
/// A listener the host runs: its name, the protocol it serves, its bound options and its server
/// (<see cref="TcpServer"/>, or <see cref="Udp.UdpServer"/> for a UDP listener: for the counters and the
/// chosen port). Found through <see cref="SockeyeListeners"/> once the host has started.
/// </summary>
public sealed class SockeyeListener
{
    // The TcpServer or UdpServer: start, state and stop are the same for both.
    private readonly IRunningServer _server;

    // A handler the listener created (AddUdpListener<THandler> without a registration): disposed on stop.
    private readonly object? _ownedHandler;

    internal SockeyeListener(string name, string protocol, SockeyeListenerOptions options, IRunningServer server, object? ownedHandler)
    {
        Name = name;
        Protocol = protocol;
        Options = options;
        _server = server;
        _ownedHandler = ownedHandler;
    }

    /// <summary>The listener's name, as in <c>Sockeye:Listeners:NAME</c> or <c>AddListener(NAME, ...)</c>.</summary>
    public string Name { get; }

    /// <summary>The protocol it serves: a built-in name such as <c>echo</c> or <c>udp-echo</c>, or the
    /// handler's type name when the handler is set in code.</summary>
    public string Protocol { get; }

    /// <summary>The options it was started with, after configuration binding.</summary>
    public SockeyeListenerOptions Options { get; }

    /// <summary>Whether the listener receives UDP datagrams (its server is <see cref="UdpServer"/>) rather
    /// than TCP connections (<see cref="Server"/>).</summary>
    public bool IsUdp => _server is UdpServer;

    /// <summary>A TCP listener's server: counters, state, and the address it listens on.</summary>
    /// <exception cref="InvalidOperationException">The listener is a UDP listener: read <see cref="UdpServer"/>.</exception>
    public TcpServer Server => _server as TcpServer
        ?? throw new InvalidOperationException($"Sockeye listener '{Name}' receives UDP: its server is SockeyeListener.UdpServer");

    /// <summary>A UDP listener's server (counters, state, the address it receives on);
    /// <see langword="null"/> for a TCP listener.</summary>
    public UdpServer? UdpServer => _server as UdpServer;

    /// <summary>The address and port the listener is bound to (the kernel's choice for port 0).</summary>
    public IPEndPoint? LocalEndPoint => _server.LocalEndPoint;

    /// <summary>Where the listener listens, for log lines: <c>127.0.0.1:7000</c> for TCP and UDP,
    /// <c>unix:/run/app.sock</c> for a Unix socket (<see cref="SockeyeListenerOptions"/>'s
    /// <c>UnixSocketPath</c>), where <see cref="LocalEndPoint"/> is <see langword="null"/>.
    /// <see langword="null"/> before the start.</summary>
    public string? ListenAddress =>
        LocalEndPoint?.ToString() ?? ((_server as TcpServer)?.ListenEndPoint is { } unix ? $"unix:{unix}" : null);

    /// <summary>Where the listener's server is in its life.</summary>
    public ServerState State => _server.State;

    /// <summary>What the drain did when the host stopped; <see langword="null"/> until then. For a UDP
    /// listener it counts handler calls rather than connections (see <see cref="Udp.UdpServer.StopAsync(TimeSpan, CancellationToken)"/>).</summary>
    public ShutdownSummary? ShutdownSummary { get; internal set; }

    /// <summary>Reads the listener's TLS certificate files again (<see cref="TcpServer.ReloadTlsCertificates"/>).</summary>
    /// <returns><see langword="true"/> when the new certificates are in use; <see langword="false"/> on
    /// failure (logged; the current certificates stay), or for a listener without TLS or a UDP listener.</returns>
    /// <remarks>Safe to call from any thread.</remarks>
    public bool ReloadTlsCertificates() => (_server as TcpServer)?.ReloadTlsCertificates() ?? false;

    /// <summary>Stops the server, draining for up to <paramref name="drainTimeout"/>, then disposes a handler
    /// the listener created.</summary>
    internal async Task<ShutdownSummary> StopAsync(TimeSpan drainTimeout, CancellationToken cancellationToken)
    {
        var summary = await _server.StopAsync(drainTimeout, cancellationToken).ConfigureAwait(false);
        if (_ownedHandler is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync().ConfigureAwait(false);
        }
        else if (_ownedHandler is IDisposable disposable)
        {
            disposable.Dispose();
        }

        return summary;
    }
}
