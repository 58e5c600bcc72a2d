namespace Sockeye;

/// <summary>
/// Thrown from a read or flush on a <see cref="Connection"/> that was closed because one of its
/// timeouts or deadlines expired; the message names the timeout and its value, <see cref="Kind"/>
/// says which one it was.
/// </summary>
/// <remarks>It derives from <see cref="ConnectionClosedException"/>: a handler that lets it escape
/// ends its connection normally (the server does not count it as a handler fault). Unlike Go, where a
/// deadline error leaves the connection usable, the connection is already closed (RST) when this is
/// thrown.</remarks>
public class ConnectionTimeoutException : ConnectionClosedException
{
    /// <summary>Creates the exception with a default message.</summary>
    public ConnectionTimeoutException()
        : base("The connection timed out.")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public ConnectionTimeoutException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public ConnectionTimeoutException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for an expired timeout of <paramref name="kind"/>.</summary>
    /// <param name="kind">Which timeout or deadline expired.</param>
    /// <param name="message">What expired and its value, such as <c>ReadTimeout of 5s expired</c>.</param>
    /// <param name="innerException">The socket error the abort caused, if any.</param>
    public ConnectionTimeoutException(ConnectionTimeoutKind kind, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
    }

    /// <summary>Which timeout or deadline expired.</summary>
    public ConnectionTimeoutKind Kind { get; }
}
