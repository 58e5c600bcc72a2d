using System.Diagnostics.CodeAnalysis;
using Sockeye.Timing;

namespace Sockeye;

public sealed partial class TcpServer
{
    // The one timer for every connection's timeouts and deadlines (see DeadlineScanner).
    private DeadlineScanner _deadlineScanner;

    // Expiries by kind; kept apart so metrics can publish them later.
    private Diagnostics.EnumCounters<ConnectionTimeoutKind> _timeoutCounters;

    // The defaults every accepted connection starts with, shared by reference.
    private DeadlineSettings _deadlineSettings;

    // What every accepted connection shares (pools, limits, shutdown token, timeout defaults), so
    // each holds one reference instead of a copy of each.
    private Transport.ConnectionContext _connectionContext;

    /// <summary>How many connections were closed because a timeout or deadline of
    /// <paramref name="kind"/> expired, since the server started.</summary>
    /// <param name="kind">The timeout or deadline to count.</param>
    /// <returns>The count; safe to read from any thread.</returns>
    public long GetTimeoutCount(ConnectionTimeoutKind kind) => _timeoutCounters.Get(kind);

    /// <summary>How many connections were closed by a timeout or deadline of any kind.</summary>
    public long TimedOutConnections => _timeoutCounters.Total;

    /// <summary>The engine this server's connections wait on: <see cref="Sockeye.IoEngine.Epoll"/> or
    /// <see cref="Sockeye.IoEngine.Sockets"/>, never <see cref="Sockeye.IoEngine.Default"/> (which this
    /// resolves).</summary>
    public IoEngine IoEngine => _connectionContext.Poller is null ? IoEngine.Sockets : IoEngine.Epoll;

    /// <summary>The scanner, for tests and benchmarks.</summary>
    internal DeadlineScanner DeadlineScanner => _deadlineScanner;

    /// <summary>The memory pool, whose <see cref="Transport.PinnedBlockMemoryPool.BlocksAllocated"/>
    /// measures what the pipes held (tests).</summary>
    internal Transport.PinnedBlockMemoryPool MemoryPool => _pool;

    [MemberNotNull(nameof(_deadlineScanner), nameof(_timeoutCounters), nameof(_deadlineSettings), nameof(_connectionContext))]
    private void InitializeDeadlines(TcpServerOptions options)
    {
        _deadlineScanner = new DeadlineScanner(options.TimeProvider, options.TimeoutResolution);
        _timeoutCounters = new Diagnostics.EnumCounters<ConnectionTimeoutKind>();
        _deadlineSettings = new DeadlineSettings(_deadlineScanner, _timeoutCounters,
            options.IdleTimeout, options.ReadTimeout, options.WriteTimeout, options.MinReceiveRate);
        _connectionContext = new Transport.ConnectionContext(_pool, _senders, options.MaxReadBufferSize, options.MaxWriteBufferSize,
            _deadlineSettings, RunConnection, _finishConnection, _shutdownRequested.Token, options.ResolvePoller());
    }
}
