using System.Collections.Concurrent;
using Sockeye.Diagnostics;

namespace Sockeye.Fanout;

/// <summary>
/// A set of connections to broadcast to — a chat room, a topic, a game's players. Members leave by
/// <see cref="Remove(Connection)"/> or by closing (automatically); joins and leaves are safe at any
/// time, also during a broadcast from another task. A connection may be in any number of groups.
/// </summary>
/// <remarks>
/// <para>A broadcast queues one shared <see cref="OutgoingMessage"/> on every member
/// (<see cref="Connection.TrySend(OutgoingMessage)"/>): no copy and no allocation per member; each
/// member's send queue and slow-consumer policy decide on its own, so one member that stops reading
/// delays nobody else. A member that joins or leaves during a broadcast may or may not get that one
/// message; every other member gets it exactly once.</para>
/// <para>Members are held in a concurrent dictionary (about 50 bytes per member); a broadcast walks it
/// without a lock.</para>
/// </remarks>
public sealed class ConnectionGroup
{
    private readonly ConcurrentDictionary<Connection, byte> _members = new(ReferenceEqualityComparer.Instance);
    private readonly SendQueueOptions? _sendQueue;
    private int _count;

    /// <summary>An empty group.</summary>
    /// <param name="name">What the group is called, for logs and metrics (a room's name, a topic).</param>
    /// <param name="sendQueue">Limits applied to each member's send queue as it joins (for example
    /// <see cref="QueueOverflow.DropOldest"/> for a latest-value feed); null leaves each connection's own.</param>
    public ConnectionGroup(string name = "", SendQueueOptions? sendQueue = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        sendQueue?.Validate();
        Name = name;
        _sendQueue = sendQueue;
    }

    /// <summary>The group's name.</summary>
    public string Name { get; }

    /// <summary>Members now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Whether the group's size is published as its own series
    /// (<see cref="Diagnostics.SockeyeMetrics.GroupMembers"/>, tagged with <see cref="Name"/>) while it
    /// has members. Off by default: a name is a tag value, so groups named by clients (chat rooms)
    /// would create one series each. Every group counts in the process's totals
    /// (<see cref="Diagnostics.SockeyeMetrics.GroupsActive"/>, <see cref="Diagnostics.SockeyeMetrics.GroupMemberships"/>) either way.</summary>
    public bool PublishSize { get; init; }

    /// <summary>Adds <paramref name="connection"/>; false when it is already a member or already closed.</summary>
    public bool Add(Connection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (!_members.TryAdd(connection, 0))
        {
            return false;
        }

        GroupMetrics.Joined(this, Interlocked.Increment(ref _count));
        if (!connection.TrackGroup(this) || connection.HasClosed)
        {
            Remove(connection);
            return false;
        }

        if (_sendQueue is not null)
        {
            connection.SendQueue = _sendQueue;
        }

        return true;
    }

    /// <summary>Removes <paramref name="connection"/>; false when it was not a member.</summary>
    public bool Remove(Connection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (!RemoveClosed(connection))
        {
            return false;
        }

        connection.UntrackGroup(this);
        return true;
    }

    /// <summary>Whether <paramref name="connection"/> is a member.</summary>
    public bool Contains(Connection connection) => _members.ContainsKey(connection);

    /// <summary>The members now (a snapshot, for listing; broadcasting needs none).</summary>
    public IReadOnlyList<Connection> Members() => [.. _members.Keys];

    /// <summary>Queues <paramref name="message"/> on every member but <paramref name="except"/> (the
    /// sender, typically). The caller keeps its own reference and disposes the message afterwards.</summary>
    /// <returns>How many members' queues took it and how many did not (full, or closing).</returns>
    public BroadcastResult Broadcast(OutgoingMessage message, Connection? except = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        int queued = 0, dropped = 0;
        foreach (var (member, _) in _members)
        {
            if (ReferenceEquals(member, except))
            {
                continue;
            }

            if (member.TrySend(message) == SendResult.Queued)
            {
                queued++;
            }
            else
            {
                dropped++;
            }
        }

        return new BroadcastResult(queued, dropped);
    }

    /// <summary>Queues a copy of <paramref name="bytes"/>, made once, on every member but <paramref name="except"/>.</summary>
    public BroadcastResult Broadcast(ReadOnlySpan<byte> bytes, Connection? except = null)
    {
        using var message = OutgoingMessage.Create(bytes);
        return Broadcast(message, except);
    }

    /// <summary>The connection closed (or is leaving): drops it without touching its own list.</summary>
    internal bool RemoveClosed(Connection connection)
    {
        if (!_members.TryRemove(connection, out _))
        {
            return false;
        }

        GroupMetrics.Left(this, Interlocked.Decrement(ref _count));
        return true;
    }
}
