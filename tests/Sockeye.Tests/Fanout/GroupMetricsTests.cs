using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Sockeye.Diagnostics;
using Sockeye.Fanout;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Fanout;

public sealed class GroupMetricsTests
{
    [Fact]
    public async Task APublishedGroupsSizeFollowsItsMembersAndVanishesWhenEmpty()
    {
        var name = $"room-{Guid.NewGuid():N}";
        var room = new ConnectionGroup(name) { PublishSize = true };
        var hidden = new ConnectionGroup($"hidden-{Guid.NewGuid():N}");
        await using var fixture = await FanoutServer.StartAsync(afterJoin: async connection =>
        {
            room.Add(connection);
            hidden.Add(connection);
            while (!(await connection.Input.ReadAsync()).IsCompleted)
            {
            }
        });
        var clients = await fixture.ConnectAsync(3);
        await Loopback.EventuallyAsync(() => room.Count == 3 && hidden.Count == 3, "3 members in both groups");

        Assert.Equal(3, Size(name));
        Assert.Null(SizeOrNull(hidden.Name)); // not published: its name is not a series
        // Process totals (other tests add groups meanwhile, so only a floor can be asserted).
        Assert.True(GroupMetrics.Active >= 3, $"{GroupMetrics.Active} active groups: the fixture's, the room and the hidden one at least");
        Assert.True(GroupMetrics.Memberships >= 9, $"{GroupMetrics.Memberships} memberships: 3 connections in 3 groups at least");
        using (var active = new MetricCollector<long>(null, SockeyeMetrics.MeterName, SockeyeMetrics.GroupsActive))
        {
            active.RecordObservableInstruments();
            Assert.True(active.LastMeasurement?.Value >= 3, $"{active.LastMeasurement?.Value} active groups published");
        }

        clients[0].Dispose();
        await Loopback.EventuallyAsync(() => SizeOrNull(name) == 2, "the room's series to drop to 2 when a member closes");

        clients.Skip(1).ToList().ForEach(c => c.Dispose());
        await Loopback.EventuallyAsync(() => room.Count == 0, "every member gone");
        Assert.Null(SizeOrNull(name)); // an empty group is not held by its metrics
    }

    private static long Size(string group) => SizeOrNull(group) ?? throw new InvalidOperationException($"no {SockeyeMetrics.GroupMembers} series for {group}");

    private static long? SizeOrNull(string group)
    {
        using var collector = new MetricCollector<long>(null, SockeyeMetrics.MeterName, SockeyeMetrics.GroupMembers);
        collector.RecordObservableInstruments();
        return collector.GetMeasurementSnapshot().LastOrDefault(m => Equals(m.Tags[SockeyeMetrics.GroupNameTag], group))?.Value;
    }
}
