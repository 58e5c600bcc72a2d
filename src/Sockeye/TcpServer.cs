using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Diagnostics;
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
/// <remarks>Start, stop and the counters are safe to use from any thread.</remarks>
public sealed partial class TcpServer : IAsyncDisposable
{
    // How often unused pool blocks are given back (see PinnedBlockMemoryPool.Trim).
    private static readonly TimeSpan PoolTrimInterval = TimeSpan.FromSeconds(10);

    private readonly TcpServerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly PinnedBlockMemoryPool _pool = new();
    private readonly SocketSenderPool _senders = new();

    // Every live connection, so that a drain can wake and abort them.
    private readonly ConnectionRegistry _connections = new();

    // What runs when a handler's task completes (one delegate for the server, not one per connection).
    private readonly Action<SocketConnection, Task> _finishConnection;

    // One token for all handlers: cancelled once, when a graceful stop begins.
    private readonly CancellationTokenSource _shutdownRequested = new();

    // Completed when the last connection ends after a stop began.
    private readonly TaskCompletionSource _allConnectionsEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly object _lifecycleLock = new();
    private Func<Connection, Task>? _handler;
    private Task _acceptLoop = Task.CompletedTask;
    private ITimer? _poolTrimmer;
    private Task<ShutdownSummary>? _stopping;
    private volatile ServerState _state;

    private int _active;

    // A new socket numbered at or above this is refused: the process is short of descriptors.
    private int _descriptorCeiling = int.MaxValue;
    private long _accepted;
    private long _rejected;
    private long _handlerErrors;
    private long _acceptErrors;
    private long _protocolErrors;

    /// <summary>Creates a server with <paramref name="options"/>; nothing is bound until
    /// <see cref="StartAsync(Func{Connection, Task}, CancellationToken)"/>.</summary>
    /// <param name="options">The settings; validated here.</param>
    /// <exception cref="ArgumentException">An option is out of range (the message names it).</exception>
    public TcpServer(TcpServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _time = options.TimeProvider;
        _logger = options.LoggerFactory?.CreateLogger<TcpServer>() ?? NullLogger<TcpServer>.Instance;
        _finishConnection = (connection, handler) => _ = FinishConnectionAsync(connection, handler);

        InitializeDeadlines(options);
        InitializeMetrics(options);
        InitializeSecurity(options);
    }

    /// <summary>The address and port the server listens on; after a start on port 0 it holds the
    /// port the kernel chose. <see langword="null"/> before the server starts.</summary>
    public IPEndPoint? LocalEndPoint { get; private set; }

    /// <summary>Where the server is in its life.</summary>
    public ServerState State => _state;

    /// <summary>Connections open now (each holds one of the <see cref="TcpServerOptions.MaxConnections"/> slots).</summary>
    public int ActiveConnections => Volatile.Read(ref _active);

    /// <summary>Connections accepted and handed to a handler since the start.</summary>
    public long AcceptedConnections => Interlocked.Read(ref _accepted);

    /// <summary>Connections refused because <see cref="TcpServerOptions.MaxConnections"/> were open or
    /// the process was short of file descriptors (see <see cref="TcpServerOptions.DescriptorReserve"/>).</summary>
    public long RejectedConnections => Interlocked.Read(ref _rejected);

    /// <summary>Handlers that ended with an exception (each aborted only its own connection).</summary>
    public long HandlerErrors => Interlocked.Read(ref _handlerErrors);

    /// <summary>Connections closed because the peer broke the protocol: the handler ended with an
    /// <see cref="InvalidDataException"/> (a malformed frame) or a
    /// <see cref="Framing.FrameTooLargeException"/> (a frame over a codec's limit).</summary>
    public long ProtocolErrors => Interlocked.Read(ref _protocolErrors);

    /// <summary>Accepts that failed (for example, out of file descriptors) and were retried after a back-off.</summary>
    public long AcceptErrors => Interlocked.Read(ref _acceptErrors);

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
        lock (_lifecycleLock)
        {
            if (_state != ServerState.Created)
            {
                throw new InvalidOperationException($"the server was already started (state: {_state})");
            }

            _handler = handler;
            _listeners = _options.UnixSocketPath is null ? ListenTcp(_options) : [ListenUnix(_options)];
            _descriptorCeiling = DescriptorLimits.Ceiling(_options.DescriptorReserve);
            ListenEndPoint = _listeners[0].LocalEndPoint!;
            LocalEndPoint = ListenEndPoint as IPEndPoint;
            _state = ServerState.Listening;
            StartMetrics(ListenEndPoint);
            _deadlineScanner.Start();
            _poolTrimmer = _time.CreateTimer(static s => ((PinnedBlockMemoryPool)s!).Trim(), _pool, PoolTrimInterval, PoolTrimInterval);
            _acceptLoop = RunAcceptLoops(_listeners);
        }

        SockeyeLog.Listening(_logger, ListenEndPoint, IoEngine);
        if (_listeners.Length > 1 || _options.SharePort)
        {
            SockeyeLog.ListeningWithAcceptors(_logger, _listeners.Length, _options.SharePort);
        }

        var fit = _descriptorCeiling - (DescriptorLimits.OpenCount() ?? 0);
        if (fit < _options.MaxConnections)
        {
            SockeyeLog.DescriptorsLimitConnections(_logger, _options.MaxConnections, Math.Max(0, fit), DescriptorLimits.SoftLimit() ?? 0, _options.DescriptorReserve);
        }
        return Task.CompletedTask;
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

    /// <summary>Stops at once: the same as <see cref="StopAsync(TimeSpan, CancellationToken)"/> with a
    /// zero drain timeout unless a stop is already under way, in which case it waits for that.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
    }
}
