using System.Runtime.InteropServices;

namespace Sockeye.Cli.Commands.Supervision;

/// <summary>Sends POSIX signals to processes (.NET can only send SIGKILL, through <c>Process.Kill</c>).</summary>
internal static partial class Signals
{
    public const int SigHup = 1;
    public const int SigTerm = 15;
    public const int SigKill = 9;
    public const int SigUsr2 = 12;

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; <see langword="false"/> when the
    /// process is gone.</summary>
    public static bool Send(int pid, int signal) => OperatingSystem.IsWindows() ? false : Kill(pid, signal) == 0;

    /// <summary>The name of a signal number, as <c>kill -l</c> prints it, for log lines.</summary>
    public static string Name(int signal) => signal switch
    {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => $"signal {signal}",
    };

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
