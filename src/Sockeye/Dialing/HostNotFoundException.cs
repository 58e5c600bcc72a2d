namespace Sockeye.Dialing;

/// <summary>
/// Thrown by <see cref="Dialer"/> when the target's host name does not resolve to any address
/// (DNS answered "no such name" or returned no address).
/// </summary>
/// <remarks><see cref="DialException.EndPoint"/> is <see langword="null"/>: no address was tried.</remarks>
public class HostNotFoundException : DialException
{
    /// <summary>Creates the exception with a default message.</summary>
    public HostNotFoundException()
        : this("The host name did not resolve.")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public HostNotFoundException(string message)
        : this(message, null)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public HostNotFoundException(string message, Exception? innerException)
        : this(message, "", innerException)
    {
    }

    /// <summary>Creates the exception for <paramref name="target"/>.</summary>
    /// <param name="message">What went wrong, naming the host.</param>
    /// <param name="target">What was dialed, as the caller wrote it.</param>
    /// <param name="innerException">The resolver's error, if any.</param>
    public HostNotFoundException(string message, string target, Exception? innerException)
        : base(message, target, innerException)
    {
    }
}
