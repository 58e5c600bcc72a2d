using Microsoft.Extensions.Logging;

namespace Sockeye.Diagnostics;

/// <summary>Log messages about groups that span instances (15xx: the backplane; Sockeye.Redis logs 1510 and up).</summary>
internal static partial class SockeyeLog
{
    [LoggerMessage(1500, LogLevel.Warning, "Backplane {Backplane} threw while publishing to group {Group}; the message is lost (counted)")]
    public static partial void BackplanePublishFailed(ILogger logger, string backplane, string group, Exception exception);
}
