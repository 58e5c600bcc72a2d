using System.Net;
using Sockeye.Bench;

namespace Sockeye.Tests.Bench;

public class SourceAddressesTests
{
    [Fact]
    public void RangeListsEveryAddressAndConnectionsTakeThemInTurn()
    {
        Assert.True(SourceAddresses.TryParse("127.0.0.1-127.0.0.40, 127.0.1.7", out var sources, out _));
        Assert.Equal(41, sources!.Addresses.Count);
        Assert.Equal(IPAddress.Parse("127.0.0.40"), sources.Addresses[39]);
        Assert.Equal(IPAddress.Parse("127.0.1.7"), sources.For(40));
        Assert.Equal(IPAddress.Parse("127.0.0.1"), sources.For(41));
    }

    [Fact]
    public void RangeCrossesAnOctetBoundary()
    {
        Assert.True(SourceAddresses.TryParse("127.0.0.250-127.0.1.5", out var sources, out _));
        Assert.Equal(12, sources!.Addresses.Count);
        Assert.Equal(IPAddress.Parse("127.0.1.0"), sources.Addresses[6]);
    }

    [Fact]
    public void ChildProcessesGetDisjointSlicesCoveringEveryAddress()
    {
        Assert.True(SourceAddresses.TryParse("127.0.0.1-127.0.0.10", out var sources, out _));
        var slices = Enumerable.Range(0, 3).Select(i => sources!.SliceFor(i, 3).Split(',')).ToList();
        Assert.Equal(10, slices.Sum(s => s.Length));
        Assert.Equal(10, slices.SelectMany(s => s).Distinct().Count());
    }

    [Fact]
    public void RefusesARangeThatNamesTooManyAddresses()
    {
        Assert.False(SourceAddresses.TryParse("10.0.0.0-10.255.255.255", out _, out var error));
        Assert.Contains("more than", error, StringComparison.Ordinal);
    }
}
