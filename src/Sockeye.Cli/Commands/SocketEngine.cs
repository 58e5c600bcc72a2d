namespace Sockeye.Cli.Commands;

/// <summary>How the process's socket engine runs completions; see <see cref="UseInlineCompletions"/>.</summary>
internal static class SocketEngine
{
    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Makes the socket engine run continuations on its epoll thread instead of handing each to the
    /// thread pool (dotnet/runtime#34945). Measured here, it cut the bench client's CPU per 64 B round
    /// trip from about 21 µs to 13 µs and the echo server's by a similar share (BENCHMARKS.md). Safe
    /// only when no handler blocks a thread: a blocking handler would stall every connection served
    /// by the same epoll thread; the built-in servers and the load generator never block. The runtime
    /// reads the variable when the first socket is created, so this must run before any socket is
    /// used; child processes inherit it. An explicit setting in the environment wins when
    /// <paramref name="enabled"/> is <see langword="null"/>.
    /// </summary>
    public static void UseInlineCompletions(bool? enabled = null)
    {
        if (enabled is { } on)
        {
            Environment.SetEnvironmentVariable(InlineCompletions, on ? "1" : "0");
        }
        else if (Environment.GetEnvironmentVariable(InlineCompletions) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletions, "1");
        }
    }
}
