using System.Diagnostics;
using System.Net;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Bench;

/// <summary>
/// bench/peers/go-chat, built from the repository with <c>go build</c> and run on a loopback port the
/// kernel chooses; killed when disposed. Fails the test with how to install Go when it is missing
/// (.ci/run installs golang-go).
/// </summary>
internal sealed class GoChatPeer : IAsyncDisposable
{
    private readonly Process _process;

    private GoChatPeer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public int ProcessId => _process.Id;

    public static async Task<GoChatPeer> StartAsync()
    {
        var go = FindGo();
        var source = Path.Combine(FindRepository(), "bench", "peers", "go-chat");
        var binary = Path.Combine(Path.GetTempPath(), $"sockeye-go-chat-{Environment.ProcessId}");
        var build = new ProcessStartInfo(go, ["build", "-o", binary, "."])
        {
            WorkingDirectory = source,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // A build cache of its own: the test may run without a HOME to keep Go's default cache in.
        build.Environment["GOCACHE"] = Path.Combine(Path.GetTempPath(), "sockeye-go-build-cache");
        using (var building = Process.Start(build)!)
        {
            var errors = building.StandardError.ReadToEndAsync();
            await building.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
            Assert.True(building.ExitCode == 0, $"go build of {source} failed: {await errors}");
        }

        var run = new ProcessStartInfo(binary, ["-port", "0"]) { RedirectStandardOutput = true };
        var process = Process.Start(run)!;
        try
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(Loopback.Patience);
            Assert.True(line is not null && line.StartsWith("listening on ", StringComparison.Ordinal), $"go-chat printed '{line}' instead of its listening line");
            return new GoChatPeer(process, IPEndPoint.Parse(line["listening on ".Length..]).Port);
        }
        catch
        {
            process.Kill();
            process.Dispose();
            throw;
        }
        finally
        {
            File.Delete(binary); // The running process keeps its image; nothing is left behind.
        }
    }

    private static string FindGo()
    {
        var path = Environment.GetEnvironmentVariable("PATH")?.Split(':') ?? [];
        foreach (var directory in path.Concat(["/usr/lib/go/bin", "/usr/local/go/bin"]))
        {
            var candidate = Path.Combine(directory, "go");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        Assert.Fail("go is not installed: .ci/run installs it (apt-get install -y golang-go); install it the same way to run this test");
        return "";
    }

    private static string FindRepository()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "bench", "peers", "go-chat", "main.go")))
            {
                return directory.FullName;
            }
        }

        Assert.Fail($"bench/peers/go-chat is in no parent folder of {AppContext.BaseDirectory}");
        return "";
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync().WaitAsync(Loopback.Patience);
        _process.Dispose();
    }
}
