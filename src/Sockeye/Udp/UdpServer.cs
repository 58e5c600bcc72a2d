using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Diagnostics;
using Sockeye.Server;

namespace Sockeye.Udp;

/// <summary>
/// A UDP server that calls a handler for every datagram, with the sender's address and a way to reply:
/// receive loops over pooled buffers on several <c>SO_REUSEPORT</c> sockets, a bound on the handler work
/// in flight (excess datagrams are dropped and counted, as UDP allows), a maximum datagram size, counters,
/// and a graceful stop.
/// </summary>
/// <example>
/// <code>
/// await using var server = new UdpServer(new UdpServerOptions { EndPoint = new(IPAddress.Loopback, 7001) });
/// await server.StartAsync(datagram => datagram.ReplyAsync(datagram.Payload)); // echo
/// ShutdownSummary summary = await server.StopAsync(TimeSpan.FromSeconds(5));
/// </code>
/// </example>
/// <remarks>
/// <code>
/// socket 1 ──receive loop──┐
/// socket 2 ──receive loop──┼─▶ slot free? ──yes──▶ handler(datagram) ──ReplyAsync──▶ same socket
///   ...    (SO_REUSEPORT)  ┘        └──no──▶ drop, count
/// </code>
/// A handler runs on its receive loop's thread until it first awaits: a handler that completes
/// synchronously (an echo, a lookup) costs no thread hop and no allocation; one that blocks stalls its
/// socket, whose later datagrams then wait in (or overflow) the kernel buffer. Start, stop and the counters
/// are safe to use from any thread.
/// </remarks>
public sealed partial class UdpServer : IAsyncDisposable, IRunningServer
{
    // A copy of the caller's options, validated once: changes the caller makes later have no effect.
    private readonly UdpServerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    // Start once, stop once, the state, and the handler slots (MaxConcurrentHandlers) whose last
    // release after a stop began ends the drain; shared in shape with TcpServer.
    private readonly ServerLifecycle _lifecycle;
    private readonly UdpServerCounters _counters = new();

    // One handler-error line per second at most: a handler that fails on every datagram must not flood the log.
    private readonly LogRateLimiter _handlerErrorLog;

    // Load-shedding report: at most one warning per interval, carrying the drops it stands for.
    private readonly LogRateLimiter _sheddingLog;

    private Func<Datagram, ValueTask>? _handler;
    private Socket[] _sockets = [];
    private Task[] _receiveLoops = [];

    // The server's instruments, from receiving until stopped.
    private UdpServerMetrics? _metrics;

    /// <summary>Creates a server with a copy of <paramref name="options"/>; nothing is bound until
    /// <see cref="StartAsync(Func{Datagram, ValueTask}, CancellationToken)"/>.</summary>
    /// <param name="options">The settings; copied and validated here, so later changes to them have no effect.</param>
    /// <exception cref="ArgumentException">An option is out of range (the message names it).</exception>
    public UdpServer(UdpServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Snapshot();
        _options.Validate();
        _time = _options.TimeProvider;
        _logger = _options.LoggerFactory?.CreateLogger<UdpServer>() ?? NullLogger<UdpServer>.Instance;
        _lifecycle = new ServerLifecycle(_options.MaxConcurrentHandlers, _time);
        _handlerErrorLog = new LogRateLimiter(_time, TimeSpan.FromSeconds(1));
        _sheddingLog = new LogRateLimiter(_time, ShedWarningInterval);
    }

    /// <summary>The address and port the server receives on; after a start on port 0 it holds the port the
    /// kernel chose. <see langword="null"/> before the server starts.</summary>
    public IPEndPoint? LocalEndPoint { get; private set; }

    /// <summary>Where the server is in its life.</summary>
    public ServerState State => _lifecycle.State;

    /// <summary>How many sockets receive on the port (see <see cref="UdpServerOptions.ReceiveSockets"/>).</summary>
    public int ReceiveSockets => _sockets.Length;

    /// <summary>Handler calls running now.</summary>
    public int HandlersInFlight => _lifecycle.Slots.Taken;

    /// <summary>Datagrams read from the sockets, dropped ones included.</summary>
    public long DatagramsReceived => _counters.DatagramsReceived;

    /// <summary>Payload bytes read from the sockets (for an oversize datagram, the bytes up to the limit).</summary>
    public long BytesReceived => _counters.BytesReceived;

    /// <summary>Replies sent.</summary>
    public long DatagramsSent => _counters.DatagramsSent;

    /// <summary>Payload bytes of the replies sent.</summary>
    public long BytesSent => _counters.BytesSent;

    /// <summary>Datagrams dropped, for any reason: <see cref="OversizeDrops"/> plus <see cref="OverloadDrops"/>.</summary>
    public long DatagramsDropped => _counters.OversizeDrops + _counters.OverloadDrops;

    /// <summary>Datagrams dropped because they were larger than <see cref="UdpServerOptions.MaxDatagramSize"/>.</summary>
    public long OversizeDrops => _counters.OversizeDrops;

    /// <summary>Datagrams dropped because <see cref="UdpServerOptions.MaxConcurrentHandlers"/> handlers were running.</summary>
    public long OverloadDrops => _counters.OverloadDrops;

    /// <summary>Handler calls that ended with an exception.</summary>
    public long HandlerErrors => _counters.HandlerErrors;

    /// <summary>Receives that failed (the loop carries on); on Linux this stays at zero in normal operation.</summary>
    public long ReceiveErrors => _counters.ReceiveErrors;

    /// <summary>Replies the kernel refused.</summary>
    public long SendErrors => _counters.SendErrors;

    /// <summary>The counts behind the properties above, which replies add to.</summary>
    internal UdpServerCounters Counters => _counters;

    /// <summary>Receive buffers allocated over the server's life (bounded by the handler limit plus the sockets).</summary>
    internal long BuffersAllocated => _counters.BuffersAllocated;

    /// <summary>The token handlers see as <see cref="Datagram.ShutdownRequested"/>.</summary>
    internal CancellationToken ShutdownToken => _lifecycle.StopRequested;

    /// <summary>Binds the sockets and starts receiving; each accepted datagram runs <paramref name="handler"/>.
    /// Returns once the server is receiving.</summary>
    /// <param name="handler">The code that serves one datagram; see <see cref="IDatagramHandler"/>.</param>
    /// <param name="cancellationToken">Cancels the start (not the running server).</param>
    /// <exception cref="InvalidOperationException">The server was already started.</exception>
    /// <exception cref="IOException">The endpoint cannot be bound (the message names it and why).</exception>
    public Task StartAsync(Func<Datagram, ValueTask> handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        cancellationToken.ThrowIfCancellationRequested();
        _lifecycle.Start(
            bind: () =>
            {
                _handler = handler;
                _sockets = ListenSocketBinder.BindUdp(_options);
                LocalEndPoint = (IPEndPoint)_sockets[0].LocalEndPoint!;
            },
            run: () =>
            {
                _metrics = new UdpServerMetrics(_counters, () => HandlersInFlight, LocalEndPoint!);
                _receiveLoops = _sockets.Select(ReceiveLoopAsync).ToArray();
            });

        SockeyeLog.UdpListening(_logger, LocalEndPoint!, _sockets.Length);
        return Task.CompletedTask;
    }

    /// <summary>Starts the server with a handler object; see
    /// <see cref="StartAsync(Func{Datagram, ValueTask}, CancellationToken)"/>.</summary>
    /// <param name="handler">Serves every datagram; must be safe for concurrent use.</param>
    /// <param name="cancellationToken">Cancels the start (not the running server).</param>
    public Task StartAsync(IDatagramHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return StartAsync(handler.HandleAsync, cancellationToken);
    }

    /// <summary>Stops at once: the same as <see cref="StopAsync(TimeSpan, CancellationToken)"/> with a zero
    /// drain timeout, unless a stop is already under way, in which case it waits for that.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
    }
}
