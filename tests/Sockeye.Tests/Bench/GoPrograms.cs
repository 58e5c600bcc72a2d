using System.Diagnostics;

namespace Sockeye.Tests.Bench;

/// <summary>
/// Builds the Go programs of bench/peers from the repository with <c>go build</c> (standard library
/// only, so no module download). Fails the test with how to install Go when it is missing (.ci/run
/// installs golang-go).
/// </summary>
internal static class GoPrograms
{
    /// <summary>Builds bench/peers/<paramref name="peer"/> into a temporary file and returns its path;
    /// the caller deletes it.</summary>
    public static async Task<string> BuildAsync(string peer)
    {
        var go = FindGo();
        var source = Path.Combine(FindRepository(peer), "bench", "peers", peer);
        var binary = Path.Combine(Path.GetTempPath(), $"sockeye-{peer}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var build = new ProcessStartInfo(go, ["build", "-o", binary, "."])
        {
            WorkingDirectory = source,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // A build cache of its own: the test may run without a HOME to keep Go's default cache in.
        build.Environment["GOCACHE"] = Path.Combine(Path.GetTempPath(), "sockeye-go-build-cache");
        build.Environment["GOPROXY"] = "off"; // standard library only: never reach for a module
        using var building = Process.Start(build)!;
        var errors = building.StandardError.ReadToEndAsync();
        await building.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(building.ExitCode == 0, $"go build of {source} failed: {await errors}");
        return binary;
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

    private static string FindRepository(string peer)
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "bench", "peers", peer, "main.go")))
            {
                return directory.FullName;
            }
        }

        Assert.Fail($"bench/peers/{peer} is in no parent folder of {AppContext.BaseDirectory}");
        return "";
    }
}
