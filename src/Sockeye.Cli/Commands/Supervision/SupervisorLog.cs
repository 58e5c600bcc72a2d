using Microsoft.Extensions.Logging;

namespace Sockeye.Cli.Commands.Supervision;

/// <summary>What the supervisor of <c>sockeye serve --processes</c> logs (11xx: worker processes).</summary>
internal static partial class SupervisorLog
{
    [LoggerMessage(1100, LogLevel.Information, "Worker {Slot} started (pid {Pid})")]
    public static partial void WorkerStarted(ILogger logger, int slot, int pid);

    [LoggerMessage(1101, LogLevel.Warning, "Worker {Slot} (pid {Pid}) died after {Uptime}: {Why}; restarting it in {Delay}")]
    public static partial void WorkerDied(ILogger logger, int slot, int pid, string uptime, string why, string delay);

    [LoggerMessage(1102, LogLevel.Error, "Worker {Slot} (pid {Pid}) died after {Uptime}: {Why}; it died {Failures} times in a row within {StableAfter} of starting, so the supervisor gives up and stops")]
    public static partial void WorkerCrashLoop(ILogger logger, int slot, int pid, string uptime, string why, int failures, string stableAfter);

    [LoggerMessage(1103, LogLevel.Information, "Stopping: asking {Count} workers to drain within {DrainTimeout}")]
    public static partial void Draining(ILogger logger, int count, string drainTimeout);

    [LoggerMessage(1104, LogLevel.Information, "Worker {Slot} (pid {Pid}) stopped: {Why}")]
    public static partial void WorkerStopped(ILogger logger, int slot, int pid, string why);

    [LoggerMessage(1105, LogLevel.Error, "Worker {Slot} (pid {Pid}) did not exit within {Wait} of SIGTERM; killing it")]
    public static partial void WorkerKilled(ILogger logger, int slot, int pid, string wait);

    [LoggerMessage(1106, LogLevel.Information, "Rolling restart: worker {Slot} successor started (pid {Pid}) beside pid {OldPid}")]
    public static partial void SuccessorStarted(ILogger logger, int slot, int pid, int oldPid);

    [LoggerMessage(1107, LogLevel.Error, "Rolling restart: worker {Slot} successor (pid {Pid}) failed: {Why}; killed it, worker pid {OldPid} goes on serving, and the restart stops here")]
    public static partial void SuccessorFailed(ILogger logger, int slot, int pid, string why, int oldPid);

    [LoggerMessage(1108, LogLevel.Information, "Rolling restart: worker {Slot} pid {Pid} replaced by pid {NewPid}; draining it within {DrainTimeout}")]
    public static partial void Retiring(ILogger logger, int slot, int pid, int newPid, string drainTimeout);

    [LoggerMessage(1109, LogLevel.Information, "Worker {Slot} (pid {Pid}) retired: {Why}")]
    public static partial void WorkerRetired(ILogger logger, int slot, int pid, string why);

    [LoggerMessage(1110, LogLevel.Information, "Rolling restart done: {Replaced} of {Workers} workers replaced")]
    public static partial void RollingRestartDone(ILogger logger, int replaced, int workers);

    [LoggerMessage(1114, LogLevel.Information, "SIGUSR2 received (pid {Pid}): {Outcome}")]
    public static partial void Sigusr2Handled(ILogger logger, int pid, string outcome);

    [LoggerMessage(1111, LogLevel.Information, "Upgrade: new supervisor started (pid {Pid}) on the same socket")]
    public static partial void UpgradeStarted(ILogger logger, int pid);

    [LoggerMessage(1112, LogLevel.Information, "Upgrade: new supervisor (pid {Pid}) reports ready; this supervisor drains its workers and exits")]
    public static partial void UpgradeReady(ILogger logger, int pid);

    [LoggerMessage(1113, LogLevel.Error, "Upgrade failed: the new supervisor (pid {Pid}) {Why}; killed it, and this supervisor goes on serving")]
    public static partial void UpgradeFailed(ILogger logger, int pid, string why);
}
