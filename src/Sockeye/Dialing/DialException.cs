namespace Sockeye.Dialing;

/// <summary>
/// Thrown by <see cref="Dialer"/> when a connection could not be made. The subclasses name the
/// common causes (<see cref="ConnectionRefusedException"/>, <see cref="HostNotFoundException"/>,
/// <see cref="ConnectTimeoutException"/>); this base type alone means another socket error (such
/// as "network unreachable"), found in <see cref="Exception.InnerException"/>.
/// </summary>
/// <remarks>Every dial error carries the <see cref="Target"/> as the caller wrote it, so a log line
/// says what could not be reached without the caller adding it.</remarks>
public class DialException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public DialException()
        : this("The connection could not be made.")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public DialException(string message)
        : this(message, null)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public DialException(string message, Exception? innerException)
        : this(message, "", innerException)
    {
    }

    /// <summary>Creates the exception for <paramref name="target"/> with a message and the error that caused it.</summary>
    /// <param name="message">What went wrong, naming the target.</param>
    /// <param name="target">What was dialed, as the caller wrote it (<c>host:port</c>, an endpoint, a socket path).</param>
    /// <param name="innerException">The socket or resolver error, if any.</param>
    public DialException(string message, string target, Exception? innerException)
        : base(message, innerException)
    {
        Target = target;
    }

    /// <summary>What was dialed, as the caller wrote it: <c>host:port</c>, an endpoint, or a socket path.</summary>
    public string Target { get; }

    /// <summary>The address whose attempt produced this error (one of the resolved addresses of
    /// <see cref="Target"/>), or <see langword="null"/> when no address was tried.</summary>
    public System.Net.EndPoint? EndPoint { get; init; }

    /// <summary>How many dials were made before giving up: 1 without a
    /// <see cref="Dialer.Reconnect"/> policy, up to <see cref="ReconnectPolicy.MaxAttempts"/> with one.</summary>
    public int Attempts { get; internal set; } = 1;
}
