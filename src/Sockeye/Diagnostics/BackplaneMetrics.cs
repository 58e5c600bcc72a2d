using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Sockeye.Fanout;

namespace Sockeye.Diagnostics;

/// <summary>
/// The started <see cref="GroupBroadcaster"/>s on one <see cref="Meter"/> (named
/// <see cref="SockeyeMetrics.MeterName"/>): messages published to the backplane, received from other
/// instances and lost, and whether the backplane is connected, each tagged with the backplane's name
/// (<see cref="SockeyeMetrics.BackplaneTag"/>). Read from the broadcasters' own counts when a listener collects.
/// </summary>
internal static class BackplaneMetrics
{
    private static readonly ConcurrentDictionary<GroupBroadcaster, byte> Started = new(ReferenceEqualityComparer.Instance);

    // Created with the type's statics, on the first start, so a process without a broadcaster has no series for one.
    private static readonly Meter Meter = CreateMeter();

    public static void Add(GroupBroadcaster broadcaster) => Started.TryAdd(broadcaster, 0);

    public static void Remove(GroupBroadcaster broadcaster) => Started.TryRemove(broadcaster, out _);

    private static Meter CreateMeter()
    {
        var meter = new Meter(SockeyeMetrics.MeterName, typeof(BackplaneMetrics).Assembly.GetName().Version?.ToString(3));
        meter.CreateObservableCounter(SockeyeMetrics.BackplanePublished, () => Read(b => b.Published), "{message}",
            "Broadcasts this instance handed to the backplane for the other instances (one per broadcast, not per recipient).");
        meter.CreateObservableCounter(SockeyeMetrics.BackplaneReceived, () => Read(b => b.Received), "{message}",
            "Broadcasts received from other instances through the backplane.");
        meter.CreateObservableCounter(SockeyeMetrics.BackplaneLost, () => Read(b => b.Lost), "{message}",
            "Broadcasts that should have crossed to other instances but did not: the backplane was down (at-most-once).");
        meter.CreateObservableGauge(SockeyeMetrics.BackplaneConnected, () => Read(b => b.State == BackplaneState.Connected ? 1 : 0), "{backplane}",
            "1 while the backplane carries broadcasts to other instances, 0 while it is connecting or down.");
        return meter;
    }

    private static IEnumerable<Measurement<long>> Read(Func<GroupBroadcaster, long> value)
    {
        foreach (var (broadcaster, _) in Started)
        {
            yield return new Measurement<long>(value(broadcaster), new KeyValuePair<string, object?>(SockeyeMetrics.BackplaneTag, broadcaster.Backplane.Name));
        }
    }
}
