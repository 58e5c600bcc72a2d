using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Diagnostics;
using Sockeye.Server;
using Sockeye.Timing;
using Sockeye.Transport;

namespace Sockeye;

/// <summary>
/// A TCP server that runs one handler task per connection, the way Go's <c>net</c> package runs one
/// goroutine per connection: an accept loop, a connection limit taken before the handler starts,
/// isolated handler faults, and a graceful, ordered shutdown.
/// </summary>
/// <example>
/// <code>
/// await using var server = new TcpServer(new TcpServerOptions { EndPoint = new(IPAddress.Loopback, 7000) });
/// await server.StartAsync(async connection =>
/// {
///     while (true)
///     {
///         var result = await connection.Input.ReadAsync();
///         foreach (var segment in result.Buffer) await connection.Output.WriteAsync(segment);
///         connection.Input.AdvanceTo(result.Buffer.End);
///         if (result.IsCompleted) break;
///     }
/// });
/// ShutdownSummary summary = await server.StopAsync(TimeSpan.FromSeconds(10));
/// </code>
/// </example>
/// <remarks>
/// A thin front over composed parts (in <c>Sockeye.Server</c>): <see cref="ListenSocketBinder"/> opens
/// the listeners, <see cref="AcceptLoop"/> accepts, <see cref="EdgeGate"/> checks, and
/// <see cref="ConnectionLifecycle"/> runs and closes each connection; <see cref="ServerLifecycle"/>
/// holds the state and the slots, <see cref="TcpServerCounters"/> the counts. Start, stop and the
/// counters are safe to use from any thread.
/// </remarks>
public sealed partial class TcpServer : IAsyncDisposable, IRunningServer
{
    // How often unused pool blocks are given back (see PinnedBlockMemoryPool.Trim).
    private static readonly TimeSpan PoolTrimInterval = TimeSpan.FromSeconds(10);

    // A copy of the caller's options, validated once: changes the caller makes later have no effect.
    private readonly TcpServerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly PinnedBlockMemoryPool _pool = new();
    private readonly SocketSenderPool _senders = new();

    // Every live connection, so that a drain can wake and abort them.
    private readonly ConnectionRegistry _connections = new();

    private readonly ServerLifecycle _lifecycle;
    private readonly TcpServerCounters _counters;
    private readonly EdgeGate? _edge;
    private readonly ConnectionLifecycle _connectionLifecycle;
    private readonly AcceptLoop _acceptLoop;

    // The one timer for every connection's timeouts and deadlines (see DeadlineScanner).
    private readonly DeadlineScanner _deadlineScanner;

    // What every accepted connection shares (pools, limits, shutdown token, timeout defaults, the
    // lifecycle's two entry points), so each holds one reference instead of a copy of each.
    private readonly ConnectionContext _context;

    // The socket file when listening on a Unix domain socket; null over TCP.
    private readonly UnixSocketFile? _unixSocket;

    // The listening sockets: one per acceptor for TCP, one for a Unix socket. Empty before the start.
    private Socket[] _listeners = [];
    private Task _accepting = Task.CompletedTask;
    private ITimer? _poolTrimmer;

    // The server's instruments, from listening until stopped; null when metrics are off.
    private TcpServerMetrics? _metrics;

    /// <summary>The server's fan-out counts: messages queued, sent and dropped, bytes pending (a test probe).</summary>
    internal Diagnostics.FanoutCounters FanoutCounters => _counters.Fanout;

    /// <summary>The server's meter once it started with metrics on (a test probe).</summary>
    internal System.Diagnostics.Metrics.Meter? Meter => _metrics?.Meter;

    /// <summary>Creates a server with a copy of <paramref name="options"/>; nothing is bound until
    /// <see cref="StartAsync(Func{Connection, Task}, CancellationToken)"/>.</summary>
    /// <param name="options">The settings; copied and validated here, so later changes to them have no effect.</param>
    /// <exception cref="ArgumentException">An option is out of range (the message names it).</exception>
    public TcpServer(TcpServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Snapshot();
        _options.Validate();
        _time = _options.TimeProvider;
        _logger = _options.LoggerFactory?.CreateLogger<TcpServer>() ?? NullLogger<TcpServer>.Instance;
        _unixSocket = _options.UnixSocketPath is { } path ? new UnixSocketFile(path, _logger) : null;

        _lifecycle = new ServerLifecycle(_options.MaxConnections, _time);
        _counters = new TcpServerCounters(traffic: _options.EnableMetrics);
        _edge = EdgeGate.For(_options, _counters.Refusals, _pool, _logger);
        _connectionLifecycle = new ConnectionLifecycle(_lifecycle, _connections, _counters, _edge, _time, _logger);
        _deadlineScanner = new DeadlineScanner(_time, _options.TimeoutResolution);
        var deadlines = new DeadlineSettings(_deadlineScanner, _counters.Timeouts,
            _options.IdleTimeout, _options.ReadTimeout, _options.WriteTimeout, _options.MinReceiveRate) { Traffic = _counters.Traffic };
        _context = new ConnectionContext(_pool, _senders, _options.MaxReadBufferSize, _options.MaxWriteBufferSize,
            deadlines, _connectionLifecycle.Run, _connectionLifecycle.HandlerDone, _lifecycle.StopRequested, _options.ResolvePoller(), _logger)
        {
            Fanout = _counters.Fanout,
            SendQueue = _options.SendQueue,
        };
        _acceptLoop = new AcceptLoop(_options, _lifecycle, _connections, _context, _counters, _edge, _logger);
    }

    /// <summary>The address and port the server listens on; after a start on port 0 it holds the
    /// port the kernel chose. <see langword="null"/> before the server starts.</summary>
    public IPEndPoint? LocalEndPoint { get; private set; }

    /// <summary>Where the server listens: an <see cref="IPEndPoint"/> for TCP (the same as
    /// <see cref="LocalEndPoint"/>) or a <see cref="UnixDomainSocketEndPoint"/> when
    /// <see cref="TcpServerOptions.UnixSocketPath"/> is set. <see langword="null"/> before the server starts.</summary>
    public EndPoint? ListenEndPoint { get; private set; }

    /// <summary>Where the server is in its life.</summary>
    public ServerState State => _lifecycle.State;

    /// <summary>How many listening sockets, each with its own accept loop, the server runs; 0 before
    /// the start. See <see cref="TcpServerOptions.AcceptorCount"/>.</summary>
    public int AcceptorCount => _listeners.Length;

    /// <summary>The most connections the epoll engine accepted on one readiness event (a test probe).</summary>
    internal int LargestAcceptBatch => _acceptLoop.LargestBatch;

    /// <summary>Epoll acceptors whose listener is out of epoll right now (a back-off, or full with
    /// <see cref="TcpServerOptions.WaitWhenFull"/>).</summary>
    internal int AcceptorsPaused => _acceptLoop.PausedAcceptors;

    /// <summary>The engine this server's connections wait on: <see cref="Sockeye.IoEngine.Epoll"/> or
    /// <see cref="Sockeye.IoEngine.Sockets"/>, never <see cref="Sockeye.IoEngine.Default"/> (which this
    /// resolves).</summary>
    public IoEngine IoEngine => _context.Poller is null ? IoEngine.Sockets : IoEngine.Epoll;

    /// <summary>Binds, listens, and starts accepting; each accepted connection runs
    /// <paramref name="handler"/> on its own task. Returns once the server is listening.</summary>
    /// <param name="handler">The code that serves one connection; see <see cref="IConnectionHandler"/>.</param>
    /// <param name="cancellationToken">Cancels the start (not the running server).</param>
    /// <exception cref="InvalidOperationException">The server was already started.</exception>
    /// <exception cref="IOException">The endpoint cannot be bound (the message names it and why).</exception>
    public Task StartAsync(Func<Connection, Task> handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        cancellationToken.ThrowIfCancellationRequested();
        _lifecycle.Start(
            bind: () =>
            {
                _connectionLifecycle.SetHandler(handler);
                _listeners = _options.ListenFd is { } fd ? [ListenDescriptor.Adopt(fd)]
                    : _unixSocket is { } file ? [ListenSocketBinder.ListenUnix(_options, file)]
                    : ListenSocketBinder.ListenTcp(_options);
                if (_options.ListenFd is not null)
                {
                    ListenSocketBinder.SetBufferSizes(_listeners[0], _options); // ListenTcp set them before listen()
                }

                ListenEndPoint = _listeners[0].LocalEndPoint!;
                LocalEndPoint = ListenEndPoint as IPEndPoint;
            },
            run: () =>
            {
                if (_options.EnableMetrics)
                {
                    _connectionLifecycle.Metrics = _metrics = new TcpServerMetrics(_counters, () => ActiveConnections, () => State, ListenEndPoint!);
                }

                _deadlineScanner.Start();
                _poolTrimmer = _time.CreateTimer(static s => ((PinnedBlockMemoryPool)s!).Trim(), _pool, PoolTrimInterval, PoolTrimInterval);
                _accepting = _acceptLoop.RunAsync(_listeners);
            });

        SockeyeLog.Listening(_logger, ListenEndPoint!, IoEngine);
        if (_listeners.Length > 1 || _options.SharePort)
        {
            SockeyeLog.ListeningWithAcceptors(_logger, _listeners.Length, _options.SharePort);
        }

        var fit = _acceptLoop.DescriptorCeiling - (DescriptorLimits.OpenCount() ?? 0);
        if (fit < _options.MaxConnections)
        {
            SockeyeLog.DescriptorsLimitConnections(_logger, _options.MaxConnections, Math.Max(0, fit), DescriptorLimits.SoftLimit() ?? 0, _options.DescriptorReserve);
        }

        WarnAboutSystemLimits();

        return Task.CompletedTask;
    }

    // The limits outside this process that a large MaxConnections or backlog runs into, said once at the
    // start rather than discovered as refused connects under load (docs/TUNING.md).
    private void WarnAboutSystemLimits()
    {
        if (DescriptorLimits.SystemFiles() is var (fileMax, allocated) && fileMax - allocated < _options.MaxConnections)
        {
            SockeyeLog.SystemFilesLimitConnections(_logger, _options.MaxConnections, Math.Max(0, fileMax - allocated), fileMax, allocated);
        }

        if (_options.ListenFd is null && DescriptorLimits.SoMaxConn() is { } soMaxConn && _options.ListenBacklog > soMaxConn)
        {
            SockeyeLog.BacklogAboveSoMaxConn(_logger, _options.ListenBacklog, soMaxConn);
        }
    }

    /// <summary>Starts the server with a handler object; see
    /// <see cref="StartAsync(Func{Connection, Task}, CancellationToken)"/>.</summary>
    /// <param name="handler">Serves every connection; must be safe for concurrent use.</param>
    /// <param name="cancellationToken">Cancels the start (not the running server).</param>
    public Task StartAsync(IConnectionHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return StartAsync(handler.HandleAsync, cancellationToken);
    }

    /// <summary>Reads the TLS certificate files again; new connections get the new certificates, open
    /// ones keep theirs. On failure (a file missing or half written) the current certificates stay in
    /// use and the failure is logged.</summary>
    /// <returns><see langword="true"/> when the new certificates are in use; <see langword="false"/> on
    /// failure or when the server has no TLS.</returns>
    /// <remarks>Safe to call from any thread, for example from a SIGHUP handler.</remarks>
    public bool ReloadTlsCertificates() => _edge?.ReloadTlsCertificates() ?? false;

    /// <summary>How many TLS handshakes are under way now: at most <see cref="Security.TlsOptions.MaxPendingHandshakes"/>, or for an
    /// instant a few more while connections past the cap are being refused (they take a place, then give it back).</summary>
    public int PendingTlsHandshakes => _edge?.PendingTlsHandshakes ?? 0;

    /// <summary>The native memory trim after aborted TLS handshakes, for tests; null without TLS.</summary>
    internal Security.Internal.NativeMemoryTrim? NativeTrim => _edge?.NativeTrim;

    /// <summary>Stops at once: the same as <see cref="StopAsync(TimeSpan, CancellationToken)"/> with a
    /// zero drain timeout unless a stop is already under way, in which case it waits for that.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
    }

    /// <summary>The address checks, for tests.</summary>
    internal Security.Internal.SourceAdmission? Admission => _edge?.Admission;

    /// <summary>The scanner, for tests and benchmarks.</summary>
    internal DeadlineScanner DeadlineScanner => _deadlineScanner;

    /// <summary>The memory pool, whose <see cref="PinnedBlockMemoryPool.BlocksAllocated"/>
    /// measures what the pipes held (tests).</summary>
    internal PinnedBlockMemoryPool MemoryPool => _pool;
}
