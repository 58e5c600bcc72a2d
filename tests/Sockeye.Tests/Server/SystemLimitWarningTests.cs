using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Sockeye.Tests.Server;

/// <summary>
/// The limits outside the process that a million-connection configuration runs into (docs/TUNING.md):
/// the server says at the start, once, which one cannot reach what it was asked for.
/// </summary>
public class SystemLimitWarningTests
{
    private static long ReadFirst(string path) => long.Parse(File.ReadAllText(path).Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries)[0]);

    private static async Task<IReadOnlyList<FakeLogRecord>> StartAndCollectWarningsAsync(TcpServerOptions options)
    {
        using var log = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(log));
        options.LoggerFactory = factory;
        await using (var server = new TcpServer(options))
        {
            await server.StartAsync(_ => Task.CompletedTask);
        }

        return [.. log.Collector.GetSnapshot().Where(r => r.Level == LogLevel.Warning)];
    }

    [Fact]
    public async Task MaxConnectionsBeyondTheSystemWideDescriptorLimitIsWarnedAboutNamingFileMax()
    {
        var fileMax = ReadFirst("/proc/sys/fs/file-max");
        Assert.True(fileMax < int.MaxValue, $"fs.file-max {fileMax} is beyond what MaxConnections can ask for; this test needs a finite limit");

        var warnings = await StartAndCollectWarningsAsync(new TcpServerOptions { MaxConnections = (int)Math.Min(int.MaxValue, fileMax + 1) });

        var warning = Assert.Single(warnings, w => w.Message.Contains("fs.file-max", StringComparison.Ordinal));
        Assert.Contains($"fs.file-max {fileMax}", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABacklogAboveSoMaxConnIsWarnedAboutNamingTheKernelsCap()
    {
        var soMaxConn = ReadFirst("/proc/sys/net/core/somaxconn");

        var warnings = await StartAndCollectWarningsAsync(new TcpServerOptions { ListenBacklog = (int)soMaxConn + 1 });

        var warning = Assert.Single(warnings, w => w.Message.Contains("somaxconn", StringComparison.Ordinal));
        Assert.Contains($"net.core.somaxconn is {soMaxConn}", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DefaultsWithinTheSystemsLimitsStartWithoutASystemLimitWarning()
    {
        var warnings = await StartAndCollectWarningsAsync(new TcpServerOptions { MaxConnections = 1000, ListenBacklog = 128 });

        Assert.DoesNotContain(warnings, w => w.Message.Contains("fs.file-max", StringComparison.Ordinal) || w.Message.Contains("somaxconn", StringComparison.Ordinal));
    }
}
