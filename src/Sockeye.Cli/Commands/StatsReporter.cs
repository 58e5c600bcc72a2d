using System.Globalization;

namespace Sockeye.Cli.Commands;

/// <summary>
/// <c>--stats-interval</c>: prints one line of the server's counters and the process's memory and
/// descriptors every interval, on stdout, so a soak script or a test can follow a long run without
/// dotnet-counters:
/// <code>sockeye: stats active=12 accepted=3400 rejected=0 timeouts=2 protocol-errors=0 handler-errors=0 heap=1843200 rss=41234432 fds=131</code>
/// </summary>
internal sealed class StatsReporter : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private StatsReporter(Func<string> line, TimeSpan interval)
    {
        _loop = RunAsync(line, interval, _stop.Token);
    }

    /// <summary>Starts printing <paramref name="line"/> every <paramref name="interval"/>;
    /// <see langword="null"/> when it is zero (off).</summary>
    public static StatsReporter? Start(Func<string> line, TimeSpan interval) =>
        interval > TimeSpan.Zero ? new StatsReporter(line, interval) : null;

    /// <summary>The line for <paramref name="server"/> now.</summary>
    public static string Line(TcpServer server)
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return string.Create(CultureInfo.InvariantCulture,
            $"sockeye: stats active={server.ActiveConnections} accepted={server.AcceptedConnections} rejected={server.RejectedConnections} timeouts={server.TimedOutConnections} protocol-errors={server.ProtocolErrors} handler-errors={server.HandlerErrors} heap={GC.GetGCMemoryInfo().HeapSizeBytes} rss={process.WorkingSet64} fds={OpenDescriptors()}");
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }

    private static int OpenDescriptors()
    {
        try
        {
            return Directory.GetFiles("/proc/self/fd").Length;
        }
        catch (IOException)
        {
            return -1;
        }
        catch (UnauthorizedAccessException)
        {
            return -1;
        }
    }

    private static async Task RunAsync(Func<string> line, TimeSpan interval, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                await Console.Out.WriteLineAsync(line());
                await Console.Out.FlushAsync(stop);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
