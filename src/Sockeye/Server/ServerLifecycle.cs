namespace Sockeye.Server;

/// <summary>
/// The life that <see cref="TcpServer"/> and <see cref="Udp.UdpServer"/> share: a start allowed once,
/// the state (<see cref="ServerState"/>), the slots (connections or handler calls) whose last release
/// after a stop began ends the drain, the stop token, and a stop that runs once however often it is
/// asked for. Each server keeps its own stop steps; this holds what the steps wait on.
/// </summary>
/// <remarks>Safe for concurrent use.</remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable",
    Justification = "The stop token outlives the stop: handlers may still register on it. The source has no timer, so nothing is left to release.")]
internal sealed class ServerLifecycle
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;

    // Cancelled once, when a stop asks the handlers to finish (Connection.ShutdownRequested,
    // Datagram.ShutdownRequested): one token for all of them, not one per connection.
    private readonly CancellationTokenSource _stopRequested = new();

    // Completed when the last slot is released after a stop began (or at once if none was held).
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Task<ShutdownSummary>? _stopping;
    private volatile ServerState _state;

    /// <summary>Creates the lifecycle of a server that holds at most <paramref name="slots"/> at once.</summary>
    public ServerLifecycle(int slots, TimeProvider time)
    {
        Slots = new SlotLimiter(slots);
        _time = time;
    }

    /// <summary>Where the server is in its life.</summary>
    public ServerState State => _state;

    /// <summary>Whether the server is accepting (or receiving): started and no stop has begun.</summary>
    public bool IsListening => _state == ServerState.Listening;

    /// <summary>The connections or handler calls running; see <see cref="ReleaseSlot"/>.</summary>
    public SlotLimiter Slots { get; }

    /// <summary>Fires when a stop asks the handlers to finish.</summary>
    public CancellationToken StopRequested => _stopRequested.Token;

    /// <summary>Starts the server once, under the lifecycle's lock: <paramref name="bind"/> opens the
    /// sockets, then the server is <see cref="ServerState.Listening"/>, then <paramref name="run"/> starts
    /// the loops (after the state, so that the first connection already sees a listening server).</summary>
    /// <exception cref="InvalidOperationException">The server was already started.</exception>
    public void Start(Action bind, Action run)
    {
        lock (_lock)
        {
            if (_state != ServerState.Created)
            {
                throw new InvalidOperationException($"the server was already started (state: {_state})");
            }

            bind();
            _state = ServerState.Listening;
            run();
        }
    }

    /// <summary>Runs <paramref name="stop"/> the first time it is called; every call, concurrent or
    /// later, returns the first call's task.</summary>
    public Task<ShutdownSummary> Stop(Func<Task<ShutdownSummary>> stop)
    {
        lock (_lock)
        {
            return _stopping ??= stop();
        }
    }

    /// <summary>Step one of every stop: no more accepts or receives count as listening; slots released
    /// from now on may end the drain.</summary>
    /// <returns>Whether the server had been started (a stop before the start logs nothing).</returns>
    public bool BeginDrain()
    {
        var wasStarted = _state == ServerState.Listening;
        _state = ServerState.Draining;
        return wasStarted;
    }

    /// <summary>Once the loops have ended: completes the drain if no slot is held.</summary>
    public void DrainIfIdle()
    {
        if (Slots.Taken == 0)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>Fires <see cref="StopRequested"/>.</summary>
    public Task RequestStopAsync() => _stopRequested.CancelAsync();

    /// <summary>Gives back one slot; the last one given back after a stop began completes the drain.</summary>
    public void ReleaseSlot()
    {
        if (Slots.Release() && _state != ServerState.Listening)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>Waits until every slot is released, for at most <paramref name="timeout"/>.</summary>
    /// <returns><see langword="false"/> when the time passed or <paramref name="cancellationToken"/> fired first.</returns>
    public async Task<bool> WaitDrainedAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await _drained.Task.WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The last step of every stop.</summary>
    public void Stopped() => _state = ServerState.Stopped;
}
