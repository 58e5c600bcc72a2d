using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Sockeye.Fanout;

namespace Sockeye.Diagnostics;

/// <summary>
/// The process's connection groups on one <see cref="Meter"/> (named <see cref="SockeyeMetrics.MeterName"/>):
/// how many groups have members and how many memberships there are, always (two interlocked counts
/// kept as members join and leave, read when a listener collects), and the size of each group that
/// asked for it (<see cref="ConnectionGroup.PublishSize"/>) while it has members.
/// </summary>
/// <remarks>Per-group series are opt-in because a group's name is a tag value: a chat server whose
/// clients name rooms would otherwise let them create one series each. A published group is held
/// here only while it has members, so an abandoned group is not kept alive by its metrics.</remarks>
internal static class GroupMetrics
{
    private static readonly ConcurrentDictionary<ConnectionGroup, byte> Published = new(ReferenceEqualityComparer.Instance);
    private static long _active;
    private static long _memberships;

    // Created with the type's statics, on the first join (the first touch of a count), so a process
    // without groups has no meter for them; a meter made after a listener started is still seen by it.
    private static readonly Meter Meter = CreateMeter();

    /// <summary>Groups with at least one member now.</summary>
    internal static long Active => Interlocked.Read(ref _active);

    /// <summary>Memberships now.</summary>
    internal static long Memberships => Interlocked.Read(ref _memberships);

    /// <summary>A member joined <paramref name="group"/>, which now has <paramref name="count"/>.</summary>
    public static void Joined(ConnectionGroup group, int count)
    {
        Interlocked.Increment(ref _memberships);
        if (count == 1)
        {
            Interlocked.Increment(ref _active);
            if (group.PublishSize)
            {
                Republish(group);
            }
        }
    }

    /// <summary>A member left <paramref name="group"/>, which now has <paramref name="count"/>.</summary>
    public static void Left(ConnectionGroup group, int count)
    {
        Interlocked.Decrement(ref _memberships);
        if (count == 0)
        {
            Interlocked.Decrement(ref _active);
            if (group.PublishSize)
            {
                Republish(group);
            }
        }
    }

    /// <summary>Registers or withdraws a published group by its live count, under a lock: a join's and a
    /// leave's calls may arrive in either order, and the last one decides on the count as it is then.</summary>
    private static void Republish(ConnectionGroup group)
    {
        lock (Published)
        {
            if (group.Count > 0)
            {
                Published.TryAdd(group, 0);
            }
            else
            {
                Published.TryRemove(group, out _);
            }
        }
    }

    private static Meter CreateMeter()
    {
        var meter = new Meter(SockeyeMetrics.MeterName, typeof(GroupMetrics).Assembly.GetName().Version?.ToString(3));
        meter.CreateObservableUpDownCounter(SockeyeMetrics.GroupsActive, () => Active, "{group}",
            "Connection groups in the process that have at least one member.");
        meter.CreateObservableUpDownCounter(SockeyeMetrics.GroupMemberships, () => Memberships, "{membership}",
            "Memberships of all connection groups in the process (a connection in three groups counts three).");
        meter.CreateObservableUpDownCounter(SockeyeMetrics.GroupMembers, ReadPublished, "{connection}",
            "Members of each connection group created with PublishSize, while it has members.");
        return meter;
    }

    private static IEnumerable<Measurement<long>> ReadPublished()
    {
        foreach (var (group, _) in Published)
        {
            yield return new Measurement<long>(group.Count, new KeyValuePair<string, object?>(SockeyeMetrics.GroupNameTag, group.Name));
        }
    }
}
