namespace Sockeye.Dialing;

/// <summary>
/// Thrown by <see cref="Dialer"/> when the target actively refused the connection: nothing listens on
/// that port (the peer answered the SYN with RST), or no socket file exists at a Unix socket path.
/// </summary>
/// <remarks>Usually the server is down or restarting; a <see cref="ReconnectPolicy"/> retries it.</remarks>
public class ConnectionRefusedException : DialException
{
    /// <summary>Creates the exception with a default message.</summary>
    public ConnectionRefusedException()
        : this("The connection was refused.")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public ConnectionRefusedException(string message)
        : this(message, null)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public ConnectionRefusedException(string message, Exception? innerException)
        : this(message, "", innerException)
    {
    }

    /// <summary>Creates the exception for <paramref name="target"/>.</summary>
    /// <param name="message">What went wrong, naming the target.</param>
    /// <param name="target">What was dialed, as the caller wrote it.</param>
    /// <param name="innerException">The socket error.</param>
    public ConnectionRefusedException(string message, string target, Exception? innerException)
        : base(message, target, innerException)
    {
    }
}
