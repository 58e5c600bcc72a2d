namespace Sockeye.Dialing;

/// <summary>
/// Thrown by <see cref="Dialer"/> when a connection was not established in time: the peer never
/// answered (a lost SYN, a full listen backlog, a firewall that drops), within
/// <see cref="Dialer.AttemptTimeout"/> for one address or <see cref="Dialer.ConnectTimeout"/> overall.
/// </summary>
public class ConnectTimeoutException : DialException
{
    /// <summary>Creates the exception with a default message.</summary>
    public ConnectTimeoutException()
        : this("The connection was not established in time.")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public ConnectTimeoutException(string message)
        : this(message, null)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public ConnectTimeoutException(string message, Exception? innerException)
        : this(message, "", innerException)
    {
    }

    /// <summary>Creates the exception for <paramref name="target"/>.</summary>
    /// <param name="message">What went wrong, naming the target and the timeout.</param>
    /// <param name="target">What was dialed, as the caller wrote it.</param>
    /// <param name="innerException">The socket error, if the kernel reported the timeout.</param>
    public ConnectTimeoutException(string message, string target, Exception? innerException)
        : base(message, target, innerException)
    {
    }

    /// <summary>The timeout that expired.</summary>
    public TimeSpan Timeout { get; init; }
}
