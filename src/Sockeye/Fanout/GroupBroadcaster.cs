using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Diagnostics;

namespace Sockeye.Fanout;

/// <summary>
/// Broadcasts to a group on this instance and, through an <see cref="IGroupBackplane"/>, to the group
/// of the same name on every other instance: a chat room whose members are spread over several
/// servers behind a load balancer.
/// </summary>
/// <remarks>
/// <para>A broadcast is delivered to this instance's members directly (as
/// <see cref="ConnectionGroup.Broadcast(OutgoingMessage, Connection?)"/> would) and published
/// <b>once</b>, whatever the number of members elsewhere; each instance that receives it encodes it
/// once for its own members. The message carries <see cref="InstanceId"/>, so when the backplane
/// hands it back to its sender (Redis sends a channel's messages to every subscriber, the sender too)
/// it is dropped, not delivered twice. Membership stays local: joins and leaves never cross.</para>
/// <para>At-most-once. While the backplane is down, local delivery goes on and every message that
/// should have crossed is counted as lost (<see cref="SockeyeMetrics.BackplaneLost"/>); nothing is
/// queued for later, so a member elsewhere misses what was said meanwhile rather than getting it late.
/// Messages published by other instances during the outage are counted there.</para>
/// <para>Safe for concurrent use: broadcasts come from any task; received messages are delivered on
/// the backplane's thread, one at a time.</para>
/// </remarks>
public sealed class GroupBroadcaster : IAsyncDisposable
{
    private readonly Func<string, ConnectionGroup?> _findGroup;
    private readonly ILogger _logger;
    private long _published;
    private long _received;
    private long _lost;
    private int _disposed;

    /// <summary>A broadcaster for this instance's groups.</summary>
    /// <param name="findGroup">This instance's group of a name, or null when it has no members of that
    /// group here (a message for it from elsewhere is then received and dropped).</param>
    /// <param name="backplane">What carries broadcasts to other instances; null for an
    /// <see cref="InProcessBackplane"/> of its own (one instance: nothing crosses). The broadcaster owns
    /// it and disposes it.</param>
    /// <param name="loggerFactory">Where a lost connection to the backplane and its return are logged.</param>
    public GroupBroadcaster(Func<string, ConnectionGroup?> findGroup, IGroupBackplane? backplane = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(findGroup);
        _findGroup = findGroup;
        Backplane = backplane ?? new InProcessBackplane();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Sockeye.Fanout.Backplane");
    }

    /// <summary>This instance's identity in the messages it publishes (new for every broadcaster).</summary>
    public Guid InstanceId { get; } = Guid.NewGuid();

    /// <summary>The backplane the broadcasts cross.</summary>
    public IGroupBackplane Backplane { get; }

    /// <summary>Whether broadcasts cross to other instances now (<see cref="IGroupBackplane.State"/>).</summary>
    public BackplaneState State => Backplane.State;

    /// <summary>Messages the backplane took from this instance.</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Messages received from other instances (this instance's own, handed back, not counted).</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Messages that should have crossed but did not: the backplane was down, or failed before it confirmed them.</summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <summary>Starts the backplane (it need not be connected when this returns) and publishes this
    /// broadcaster's counts and state as metrics (<see cref="SockeyeMetrics.BackplanePublished"/> and the rest).</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await Backplane.StartAsync(Receive, cancellationToken).ConfigureAwait(false);
        BackplaneMetrics.Add(this);
    }

    /// <summary>Queues <paramref name="message"/> on every member of this instance's group
    /// <paramref name="group"/> but <paramref name="except"/>, and publishes it once to the group's
    /// members on every other instance. The caller keeps its own reference and disposes the message afterwards.</summary>
    /// <returns>What the local delivery did (the other instances' is theirs to count).</returns>
    public BroadcastResult Broadcast(string group, OutgoingMessage message, Connection? except = null)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(message);
        var local = _findGroup(group) is { } members ? members.Broadcast(message, except) : default;

        // The backplane copies the bytes before PublishAsync returns, while the caller's reference holds them.
        ValueTask<bool> publish;
        try
        {
            publish = Backplane.PublishAsync(new BackplaneMessage(InstanceId, group, message.Memory));
        }
#pragma warning disable CA1031 // A backplane's own defect must not end the sender's connection: the message is lost, and counted.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            SockeyeLog.BackplanePublishFailed(_logger, Backplane.Name, group, ex);
            Interlocked.Increment(ref _lost);
            return local;
        }

        if (publish.IsCompletedSuccessfully)
        {
            Count(publish.Result);
        }
        else
        {
            _ = CountWhenDoneAsync(publish);
        }

        return local;
    }

    /// <summary>Stops publishing the metrics and disposes the backplane (its connection closes).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        BackplaneMetrics.Remove(this);
        await Backplane.DisposeAsync().ConfigureAwait(false);
    }

    private void Receive(BackplaneMessage message)
    {
        if (message.Origin == InstanceId)
        {
            return; // our own, delivered to our members when it was broadcast
        }

        Interlocked.Increment(ref _received);
        if (_findGroup(message.Group) is not { Count: > 0 } members)
        {
            return;
        }

        using var outgoing = OutgoingMessage.Create(message.Payload.Span);
        members.Broadcast(outgoing);
    }

    private void Count(bool published) => Interlocked.Increment(ref published ? ref _published : ref _lost);

    private async Task CountWhenDoneAsync(ValueTask<bool> publish)
    {
        bool published;
        try
        {
            published = await publish.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // PublishAsync promises false for an outage; anything else is lost too, not an unobserved exception.
        catch (Exception)
#pragma warning restore CA1031
        {
            published = false;
        }

        Count(published);
    }
}
