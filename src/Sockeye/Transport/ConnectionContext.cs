using Sockeye.Timing;

namespace Sockeye.Transport;

/// <summary>
/// What every connection of one server (or every dialed connection) shares: the buffer pools, the
/// limits, the shutdown token, the timeout defaults and what to do when a handler ends. Each
/// <see cref="SocketConnection"/> holds one reference to it, and its reader and writer reach it
/// through the connection, instead of each copying these into fields of its own: with 100,000 idle
/// connections every 8-byte field is 800 KB (docs/MEMORY.md).
/// </summary>
internal sealed class ConnectionContext
{
    public ConnectionContext(PinnedBlockMemoryPool pool, SocketSenderPool senders, long? maxReadBufferSize, long? maxWriteBufferSize,
        DeadlineSettings? deadlines, Action<SocketConnection>? start, Action<SocketConnection, Task>? handlerDone, CancellationToken shutdownRequested,
        Epoll.PollerGroup? poller = null, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        Poller = poller;
        Logger = logger;
        Pool = pool;
        Senders = senders;
        MaxReadBufferSize = maxReadBufferSize ?? long.MaxValue;
        MaxWriteBufferSize = (int)Math.Min(maxWriteBufferSize ?? int.MaxValue, int.MaxValue);
        ShutdownRequested = shutdownRequested;
        Deadlines = deadlines;
        Start = start;
        HandlerDone = handlerDone;
    }

    /// <summary>The server's fan-out counts (messages queued, sent, dropped; bytes pending); null for a
    /// dialer's connections.</summary>
    public Diagnostics.FanoutCounters? Fanout { get; init; }

    /// <summary>The send-queue limits a connection starts with (<see cref="TcpServerOptions.SendQueue"/>).</summary>
    public Sockeye.Fanout.SendQueueOptions SendQueue { get; init; } = Sockeye.Fanout.SendQueueOptions.Default;

    /// <summary>The spare send queues: a connection holds one only while messages from other tasks are
    /// queued or in flight (<see cref="Outbox"/>).</summary>
    public OutboxPool Outboxes { get; } = new();

    /// <summary>The epoll engine the connections are registered with; <see langword="null"/> when they
    /// use .NET's socket engine (<see cref="IoEngine.Sockets"/>, or not Linux).</summary>
    public Epoll.PollerGroup? Poller { get; }

    /// <summary>Where the transport logs what it cannot hand to a handler (a failed poll-thread dispatch, a
    /// <c>ConnectionClosed</c> callback that threw); <see langword="null"/>: not logged (dialed connections).</summary>
    public Microsoft.Extensions.Logging.ILogger? Logger { get; }

    /// <summary>One line per second at most for throwing <c>ConnectionClosed</c> callbacks: a bug in one
    /// is hit by every connection.</summary>
    public Diagnostics.LogRateLimiter CallbackErrorLog { get; } = new(TimeProvider.System, TimeSpan.FromSeconds(1));

    /// <summary>One slow-consumer disconnect line per second at most (a stalled broadcast can cut thousands).</summary>
    public Diagnostics.LogRateLimiter SlowConsumerLog { get; } = new(TimeProvider.System, TimeSpan.FromSeconds(1));

    /// <summary>Whether the epoll engine runs the reader's and writer's continuations on its poll thread
    /// (<see cref="TcpServerOptions.InlineCompletions"/>) instead of the thread pool.</summary>
    public bool InlineCompletions => Poller?.Inline == true;

    /// <summary>Where the reader and writer rent their blocks.</summary>
    public PinnedBlockMemoryPool Pool { get; }

    /// <summary>Send state, rented for the length of one flush.</summary>
    public SocketSenderPool Senders { get; }

    /// <summary>Unconsumed input at which a read fails (<see cref="TcpServerOptions.MaxReadBufferSize"/>; no limit: <see cref="long.MaxValue"/>).</summary>
    public long MaxReadBufferSize { get; }

    /// <summary>Largest piece one <c>WriteAsync</c> buffers before flushing (<see cref="TcpServerOptions.MaxWriteBufferSize"/>).</summary>
    public int MaxWriteBufferSize { get; }

    /// <summary>The server's graceful-stop token (<see cref="Connection.ShutdownRequested"/>); none for dialed connections.</summary>
    public CancellationToken ShutdownRequested { get; }

    /// <summary>The server's timeout defaults and scanner; <see langword="null"/> where connections have no timers (dialed).</summary>
    public DeadlineSettings? Deadlines { get; }

    /// <summary>Runs the handler for a new connection, on a thread-pool thread (see <see cref="SocketConnection.Start"/>).</summary>
    public Action<SocketConnection>? Start { get; }

    /// <summary>Called with the connection and the handler's task when a handler ends (see <see cref="SocketConnection.WhenHandlerDone"/>).</summary>
    public Action<SocketConnection, Task>? HandlerDone { get; }
}
