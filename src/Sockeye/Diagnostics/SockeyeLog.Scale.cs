using Microsoft.Extensions.Logging;

namespace Sockeye.Diagnostics;

/// <summary>Log messages about using several cores and processes (10xx: acceptors and port sharing).</summary>
internal static partial class SockeyeLog
{
    [LoggerMessage(1000, LogLevel.Information, "Accepting with {Acceptors} SO_REUSEPORT listeners on one port (shared with other processes: {Shared})")]
    public static partial void ListeningWithAcceptors(ILogger logger, int acceptors, bool shared);
}
