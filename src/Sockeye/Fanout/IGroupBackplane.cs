namespace Sockeye.Fanout;

/// <summary>
/// Carries group broadcasts between instances of one service (a pub/sub engine people already run:
/// Redis in <c>Sockeye.Redis</c>; <see cref="InProcessBackplane"/> within one process). A
/// <see cref="GroupBroadcaster"/> owns one: it delivers each broadcast to its own members and hands
/// the message to the backplane once, whatever the number of recipients elsewhere.
/// </summary>
/// <remarks>
/// <para>At-most-once: a message published while the backplane is down is not queued for later, it is
/// lost and the publish says so (<see cref="PublishAsync"/> returns false). A backplane reconnects by
/// itself and reports where it is through <see cref="State"/>.</para>
/// <para>A backplane may hand a message back to the instance that published it (Redis does, to every
/// subscriber of the channel): the broadcaster drops those by <see cref="BackplaneMessage.Origin"/>.</para>
/// <para>Implementations are safe for concurrent use: broadcasts come from every connection's task.</para>
/// </remarks>
public interface IGroupBackplane : IAsyncDisposable
{
    /// <summary>What carries the messages (<c>redis</c>, <c>in-process</c>), for logs, metrics and <c>/readyz</c>.</summary>
    string Name { get; }

    /// <summary>Whether messages cross to other instances now.</summary>
    BackplaneState State { get; }

    /// <summary>Starts receiving: every message another instance publishes is passed to
    /// <paramref name="receive"/>, one at a time and in the order each publisher sent them. Returns
    /// once the backplane is under way; it need not be connected yet (it keeps trying on its own).</summary>
    /// <param name="receive">Called for each message, on the backplane's own thread: it must not block.</param>
    /// <param name="cancellationToken">Gives up the start.</param>
    Task StartAsync(Action<BackplaneMessage> receive, CancellationToken cancellationToken = default);

    /// <summary>Publishes <paramref name="message"/> to every other instance. Copies what it needs
    /// before it returns (the payload's bytes may be reused after); never throws for an outage.</summary>
    /// <returns>True when the engine took the message; false when it was lost (the backplane is down,
    /// or the connection failed before the engine confirmed it).</returns>
    ValueTask<bool> PublishAsync(BackplaneMessage message);
}
