using System.Net;
using System.Net.Sockets;
using Sockeye.Reliability.Support;
using Sockeye.Tests.Support;
using Xunit.Abstractions;

namespace Sockeye.Reliability.Scenarios;

/// <summary>
/// Scenario 3, out of file descriptors: <c>sockeye serve echo</c> in a child process under
/// <c>ulimit -n 300</c>, pushed past it by clients that stay connected, then kept under pressure by a
/// new connection every 20 ms for three seconds.
/// </summary>
/// <remarks>
/// The server never lets accept() itself meet EMFILE: the descriptor reserve refuses connections
/// while a few descriptors are still free, because the .NET runtime ends the process with "Out of
/// memory." when it cannot get a descriptor of its own (see DescriptorExhaustionTests in the unit
/// tests). So the figures here are what that design promises: no spin (CPU over the pressure
/// phase), no crash, accepts resume as soon as clients leave, descriptors back to the baseline.
/// </remarks>
public sealed class DescriptorExhaustionScenario(ITestOutputHelper output)
{
    private const int FileLimit = 300;
    private const int Flood = 450;
    private static readonly TimeSpan Pressure = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task PushedPastItsDescriptorLimitTheServerNeitherSpinsNorDiesAndAcceptsAgainWhenClientsLeave()
    {
        using var server = CliProcess.Start("serve echo --port 0", FileLimit);
        var endPoint = await server.ListeningAsync();
        await Loopback.EventuallyAsync(() => server.Stderr.Contains("but only about", StringComparison.Ordinal), "the server says the descriptor limit lowers its connection limit");
        using (var warmUp = await Loopback.ConnectAsync(endPoint))
        {
            Assert.True(await EchoProbe.TryRoundTripAsync(warmUp));
        }

        await Task.Delay(200);
        var baseline = server.OpenDescriptors();

        // The flood: every client stays connected, served or not.
        var held = new List<(Socket Socket, bool Served)>();
        var cpuBefore = server.CpuTime();
        for (var i = 0; i < Flood; i++)
        {
            var socket = await EchoProbe.ConnectOrNullAsync(endPoint);
            held.Add((socket!, socket is not null && await EchoProbe.TryRoundTripAsync(socket)));
        }

        var served = held.Count(h => h.Served);
        var descriptorsAtPeak = server.OpenDescriptors();

        // The pressure: a new client every 20 ms; each must be refused, none may make the server spin.
        var pressureCpuBefore = server.CpuTime();
        var pressureClock = System.Diagnostics.Stopwatch.StartNew();
        var pressured = 0;
        var servedUnderPressure = 0;
        while (pressureClock.Elapsed < Pressure)
        {
            using var socket = await EchoProbe.ConnectOrNullAsync(endPoint);
            servedUnderPressure += socket is not null && await EchoProbe.TryRoundTripAsync(socket) ? 1 : 0;
            pressured++;
            await Task.Delay(20);
        }

        var pressureCpu = server.CpuTime() - pressureCpuBefore;
        var pressureWall = pressureClock.Elapsed;
        Assert.False(server.HasExited, $"the server died: {server.Stderr}");

        // Clients leave: a hundred of the served ones hang up, and new clients are served again.
        var leaving = held.Where(h => h.Served).Take(100).ToList();
        leaving.ForEach(h => h.Socket.Dispose());
        var resumed = 0;
        var resumeClock = System.Diagnostics.Stopwatch.StartNew();
        var newcomers = new List<Socket>();
        while (resumed < leaving.Count / 2 && resumeClock.Elapsed < Loopback.Patience)
        {
            var socket = await EchoProbe.ConnectOrNullAsync(endPoint);
            if (socket is not null && await EchoProbe.TryRoundTripAsync(socket))
            {
                resumed++;
                newcomers.Add(socket);
            }
            else
            {
                socket?.Dispose();
                await Task.Delay(20);
            }
        }

        var firstResumeAfter = resumeClock.Elapsed;
        var episodeCpu = server.CpuTime() - cpuBefore;

        foreach (var (socket, _) in held)
        {
            socket?.Dispose();
        }

        newcomers.ForEach(s => s.Dispose());
        var descriptorsAfter = 0;
        await Loopback.EventuallyAsync(() => (descriptorsAfter = server.OpenDescriptors()) <= baseline + 4, "the server's descriptors return to the baseline");
        Assert.False(server.HasExited, $"the server died: {server.Stderr}");

        server.Signal("TERM");
        var exitCode = await server.WaitForExitAsync();

        Record("ulimit -n / flood / served / refused", $"{FileLimit} / {Flood} / {served} / {Flood - served}");
        Record("server descriptors baseline / peak / after", $"{baseline} / {descriptorsAtPeak} / {descriptorsAfter}");
        Record("CPU over the pressure phase", $"{Measure.Ms(pressureCpu)} in {Measure.Ms(pressureWall)} ({pressured} refused connects)");
        Record("CPU over the whole episode", Measure.Ms(episodeCpu));
        Record("new clients served after 100 left", $"{resumed} in {Measure.Ms(firstResumeAfter)}");
        Record("exit code after SIGTERM", exitCode);

        Assert.InRange(served, 100, FileLimit);
        Assert.True(descriptorsAtPeak < FileLimit, $"the server held {descriptorsAtPeak} descriptors, limit {FileLimit}");
        Assert.Equal(0, servedUnderPressure);
        Assert.True(pressureCpu < TimeSpan.FromSeconds(1), $"the server used {pressureCpu} of CPU in {pressureWall} while out of descriptors");
        Assert.Equal(leaving.Count / 2, resumed);
        Assert.Equal(0, exitCode);
        Assert.DoesNotContain("Out of memory", server.Stderr, StringComparison.Ordinal);

        void Record(string figure, object value) => Scenario.Record(output, "3 out of descriptors", figure, value);
    }
}
