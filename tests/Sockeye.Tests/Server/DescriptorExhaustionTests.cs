using System.Net.Sockets;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Server;

/// <summary>
/// The server in a child process with a low descriptor limit (<c>ulimit -n</c>), pushed past it by a
/// connection flood: the descriptor reserve refuses the excess cheaply, so neither the accept loop
/// nor the runtime ever meets EMFILE.
/// </summary>
/// <remarks>
/// A test that makes accept() itself fail with EMFILE (lowering a running server's limit with
/// prlimit) showed the accept loop backing off as designed, but the .NET runtime sometimes died with
/// "Out of memory." in the same moment, needing a descriptor of its own: that is why the reserve
/// exists, and why such a test cannot be made reliable.
/// </remarks>
public class DescriptorExhaustionTests
{
    [Fact]
    public async Task AFloodLargerThanTheDescriptorLimitIsRefusedWithoutSpinningOrDying()
    {
        const int FileLimit = 320;
        const int Clients = 500;
        using var server = CliProcess.Start("serve echo --port 0", FileLimit);
        var endPoint = await server.ListeningAsync();
        await Loopback.EventuallyAsync(() => server.Stderr.Contains("but only about", StringComparison.Ordinal), "the server says it lowered its connection limit");

        var clients = new List<Socket>();
        var served = 0;
        var refused = 0;
        try
        {
            for (var i = 0; i < Clients; i++)
            {
                var (socket, ok) = await TryRoundTripAsync(endPoint);
                clients.Add(socket);
                served += ok ? 1 : 0;
                refused += ok ? 0 : 1;
            }

            Assert.InRange(served, 100, FileLimit);
            Assert.Equal(Clients - served, refused);
            Assert.True(server.OpenDescriptors() < FileLimit, "the server took its last descriptors");
            await AssertQuietAsync(server);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }

        await AssertServesAgainAsync(endPoint);
    }

    private static async Task<(Socket Socket, bool Served)> TryRoundTripAsync(System.Net.IPEndPoint endPoint)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endPoint).WaitAsync(Loopback.Patience);
            await socket.SendAllAsync("x"u8.ToArray());
            return (socket, (await socket.ReceiveExactlyAsync(1))[0] == (byte)'x');
        }
        catch (Exception ex) when (ex is SocketException or EndOfStreamException)
        {
            return (socket, false);
        }
    }

    /// <summary>Over two seconds out of descriptors the server uses a small part of one core (a busy
    /// accept loop would use nearly all of it) and stays alive.</summary>
    private static async Task AssertQuietAsync(CliProcess server)
    {
        Assert.False(server.HasExited, $"the server died: {server.Stderr}");
        var before = server.CpuTime();
        await Task.Delay(TimeSpan.FromSeconds(2));
        var used = server.CpuTime() - before;
        Assert.False(server.HasExited, $"the server died: {server.Stderr}");
        Assert.True(used < TimeSpan.FromSeconds(0.5), $"the server used {used.TotalMilliseconds} ms of CPU in 2 s while out of descriptors");
    }

    /// <summary>Once the flood's clients are gone the server serves again. Their connections end as
    /// the server reads their FINs, so a connection made at once may still find every slot taken and
    /// be refused: try until one is served (bounded by the test's patience).</summary>
    private static async Task AssertServesAgainAsync(System.Net.IPEndPoint endPoint)
    {
        await Loopback.EventuallyAsync(
            async () =>
            {
                var (socket, served) = await TryRoundTripAsync(endPoint);
                socket.Dispose();
                return served;
            },
            "the server serves again after the flood ended",
            every: TimeSpan.FromMilliseconds(50));
    }
}
