using Microsoft.Extensions.Logging;

namespace Sockeye.Cli.Commands;

/// <summary>What every <c>sockeye serve ...</c> process logs about the signals it handles (14xx).</summary>
internal static partial class ServeLog
{
    [LoggerMessage(1400, LogLevel.Information, "SIGHUP received (pid {Pid}): {Outcome}")]
    public static partial void SighupHandled(ILogger logger, int pid, string outcome);

    [LoggerMessage(1401, LogLevel.Warning, "SIGHUP received (pid {Pid}): the reload failed and the server goes on as before: {Error}")]
    public static partial void SighupFailed(ILogger logger, int pid, string error);
}
