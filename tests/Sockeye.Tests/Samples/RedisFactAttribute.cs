namespace Sockeye.Tests.Samples;

/// <summary>A test that needs Debian's redis-server and redis-tools (redis-cli, redis-benchmark): skipped,
/// with the reason, only where they are not installed. .ci/run installs them.</summary>
public sealed class RedisFactAttribute : FactAttribute
{
    public RedisFactAttribute()
    {
        if (Tool("redis-server") is null || Tool("redis-cli") is null || Tool("redis-benchmark") is null)
        {
            Skip = "redis-server / redis-cli / redis-benchmark are not installed: apt-get install -y redis-server redis-tools (.ci/run does)";
        }
    }

    /// <summary>The full path of <paramref name="name"/> on PATH, or null.</summary>
    public static string? Tool(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}
