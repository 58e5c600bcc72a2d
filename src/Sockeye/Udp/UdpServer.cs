using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Diagnostics;

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
public sealed partial class UdpServer : IAsyncDisposable
{
    private readonly UdpServerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    // Cancelled once, when a stop begins: ends the receive loops and tells handlers to finish.
    private readonly CancellationTokenSource _stopping = new();

    // Completed when the last running handler finishes after a stop began.
    private readonly TaskCompletionSource _allHandlersDone = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly object _lifecycleLock = new();
    private Func<Datagram, ValueTask>? _handler;
    private Socket[] _sockets = [];
    private Task[] _receiveLoops = [];
    private Task<ShutdownSummary>? _stopTask;
    private volatile ServerState _state;

    // Handler calls running now; a datagram may start one only while this is below the limit.
    private int _inFlight;
    private long _buffersAllocated;

    // Load-shedding report: at most one warning per interval, carrying the drops since the last one.
    private long _lastShedWarning;
    private long _dropsSinceWarning;

    /// <summary>Creates a server with <paramref name="options"/>; nothing is bound until
    /// <see cref="StartAsync(Func{Datagram, ValueTask}, CancellationToken)"/>.</summary>
    /// <param name="options">The settings; validated here.</param>
    /// <exception cref="ArgumentException">An option is out of range (the message names it).</exception>
    public UdpServer(UdpServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _time = options.TimeProvider;
        _logger = options.LoggerFactory?.CreateLogger<UdpServer>() ?? NullLogger<UdpServer>.Instance;
        _lastShedWarning = long.MinValue;
    }

    /// <summary>The address and port the server receives on; after a start on port 0 it holds the port the
    /// kernel chose. <see langword="null"/> before the server starts.</summary>
    public IPEndPoint? LocalEndPoint { get; private set; }

    /// <summary>Where the server is in its life.</summary>
    public ServerState State => _state;

    /// <summary>How many sockets receive on the port (see <see cref="UdpServerOptions.ReceiveSockets"/>).</summary>
    public int ReceiveSockets => _sockets.Length;

    /// <summary>Handler calls running now.</summary>
    public int HandlersInFlight => Volatile.Read(ref _inFlight);

    /// <summary>Datagrams read from the sockets, dropped ones included.</summary>
    public long DatagramsReceived => Counters.DatagramsReceived;

    /// <summary>Payload bytes read from the sockets (for an oversize datagram, the bytes up to the limit).</summary>
    public long BytesReceived => Counters.BytesReceived;

    /// <summary>Replies sent.</summary>
    public long DatagramsSent => Counters.DatagramsSent;

    /// <summary>Payload bytes of the replies sent.</summary>
    public long BytesSent => Counters.BytesSent;

    /// <summary>Datagrams dropped, for any reason: <see cref="OversizeDrops"/> plus <see cref="OverloadDrops"/>.</summary>
    public long DatagramsDropped => Counters.OversizeDrops + Counters.OverloadDrops;

    /// <summary>Datagrams dropped because they were larger than <see cref="UdpServerOptions.MaxDatagramSize"/>.</summary>
    public long OversizeDrops => Counters.OversizeDrops;

    /// <summary>Datagrams dropped because <see cref="UdpServerOptions.MaxConcurrentHandlers"/> handlers were running.</summary>
    public long OverloadDrops => Counters.OverloadDrops;

    /// <summary>Handler calls that ended with an exception.</summary>
    public long HandlerErrors => Counters.HandlerErrors;

    /// <summary>Receives that failed (the loop carries on); on Linux this stays at zero in normal operation.</summary>
    public long ReceiveErrors => Counters.ReceiveErrors;

    /// <summary>Replies the kernel refused.</summary>
    public long SendErrors => Counters.SendErrors;

    /// <summary>The counts behind the properties above.</summary>
    internal UdpCounters Counters { get; } = new();

    /// <summary>Receive buffers allocated over the server's life (bounded by the handler limit plus the sockets).</summary>
    internal long BuffersAllocated => Interlocked.Read(ref _buffersAllocated);

    /// <summary>The token handlers see as <see cref="Datagram.ShutdownRequested"/>.</summary>
    internal CancellationToken ShutdownToken => _stopping.Token;

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
        lock (_lifecycleLock)
        {
            if (_state != ServerState.Created)
            {
                throw new InvalidOperationException($"the server was already started (state: {_state})");
            }

            _handler = handler;
            _sockets = Bind(_options);
            LocalEndPoint = (IPEndPoint)_sockets[0].LocalEndPoint!;
            _state = ServerState.Listening;
            _metrics = new Diagnostics.UdpServerMetrics(this, LocalEndPoint);
            _receiveLoops = _sockets.Select(ReceiveLoopAsync).ToArray();
        }

        SockeyeLog.UdpListening(_logger, LocalEndPoint, _sockets.Length);
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
