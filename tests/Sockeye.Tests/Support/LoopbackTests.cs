using System.IO.Pipelines;
using System.Net.Sockets;

namespace Sockeye.Tests.Support;

/// <summary>The shared wait and read helpers fail the way the tests rely on.</summary>
public class LoopbackTests
{
    [Fact]
    public async Task EventuallyFailsNamingWhatItWaitedForOnceItsTimeIsUp()
    {
        var polls = 0;

        var error = await Assert.ThrowsAsync<TimeoutException>(() =>
            Loopback.EventuallyAsync(() => ++polls < 0, "pigs fly", within: TimeSpan.FromMilliseconds(100)));

        Assert.Contains("pigs fly", error.Message, StringComparison.Ordinal);
        Assert.True(polls > 1, $"polled {polls} times");
    }

    [Fact]
    public async Task EventuallyReturnsOnceAnAsyncConditionHolds()
    {
        var polls = 0;

        await Loopback.EventuallyAsync(async () => { await Task.Yield(); return ++polls == 3; }, "the third poll");

        Assert.Equal(3, polls);
    }

    [Fact]
    public async Task AnExactPipeReadTakesTheCountAndLeavesTheRest()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync("abc"u8.ToArray());
        var reading = pipe.Reader.ReceiveExactlyAsync(5);
        await pipe.Writer.WriteAsync("defgh"u8.ToArray());

        Assert.Equal("abcde"u8.ToArray(), await reading);
        Assert.Equal("fgh"u8.ToArray(), await pipe.Reader.ReceiveExactlyAsync(3));
    }

    [Fact]
    public async Task AnExactReadThrowsWhenThePeerClosesFirst()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync("ab"u8.ToArray());
        await pipe.Writer.CompleteAsync();

        var error = await Assert.ThrowsAsync<EndOfStreamException>(() => pipe.Reader.ReceiveExactlyAsync(5));
        Assert.Contains("2 of 5", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<EndOfStreamException>(() => new MemoryStream("ab"u8.ToArray()).ReceiveExactlyAsync(5));
    }

    [Fact]
    public async Task ReadingToTheEndCountsWhatCameBeforeTheClose()
    {
        var (received, end) = await new MemoryStream(new byte[10_000]).ReceiveToEndAsync();

        Assert.Equal(10_000, received);
        Assert.Equal(SocketError.Success, end);
    }
}
