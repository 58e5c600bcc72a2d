namespace Sockeye.Fanout;

/// <summary>
/// The default backplane: the instances it connects are in this process. Alone (what
/// <see cref="GroupBroadcaster"/> uses when given none) it carries nothing, so a single instance
/// behaves as if there were no backplane; peers made by <see cref="CreatePeer"/> share one bus, so
/// several servers in one process (or a test) see each other's broadcasts as separate instances would.
/// </summary>
/// <remarks>Delivery is synchronous, on the publisher's thread, to every other started peer; it is
/// always <see cref="BackplaneState.Connected"/> and never loses a message. Safe for concurrent use.</remarks>
public sealed class InProcessBackplane : IGroupBackplane
{
    private readonly Bus _bus;
    private Action<BackplaneMessage>? _receive;

    /// <summary>A backplane with a bus of its own (no peers yet).</summary>
    public InProcessBackplane()
        : this(new Bus())
    {
    }

    private InProcessBackplane(Bus bus) => _bus = bus;

    /// <inheritdoc/>
    public string Name => "in-process";

    /// <inheritdoc/>
    public BackplaneState State => BackplaneState.Connected;

    /// <summary>Another instance's backplane on the same bus: what one publishes, the other receives.</summary>
    public InProcessBackplane CreatePeer() => new(_bus);

    /// <inheritdoc/>
    public Task StartAsync(Action<BackplaneMessage> receive, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(receive);
        if (Interlocked.CompareExchange(ref _receive, receive, null) is not null)
        {
            throw new InvalidOperationException("the backplane was started already");
        }

        _bus.Add(this);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask<bool> PublishAsync(BackplaneMessage message)
    {
        foreach (var peer in _bus.Peers)
        {
            if (!ReferenceEquals(peer, this))
            {
                peer._receive!(message);
            }
        }

        return ValueTask.FromResult(true);
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        _bus.Remove(this);
        return ValueTask.CompletedTask;
    }

    /// <summary>The started peers, copied on write: a publish walks an array without a lock.</summary>
    private sealed class Bus
    {
        private readonly Lock _lock = new();
        private InProcessBackplane[] _peers = [];

        public InProcessBackplane[] Peers => Volatile.Read(ref _peers);

        public void Add(InProcessBackplane peer)
        {
            lock (_lock)
            {
                _peers = [.. _peers, peer];
            }
        }

        public void Remove(InProcessBackplane peer)
        {
            lock (_lock)
            {
                _peers = [.. _peers.Where(p => !ReferenceEquals(p, peer))];
            }
        }
    }
}
