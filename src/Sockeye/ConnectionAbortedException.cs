namespace Sockeye;

/// <summary>
/// Thrown from a read or flush on a <see cref="Connection"/> that was aborted, by the handler, the
/// server (for example at the end of a drain), or because the peer reset the connection.
/// </summary>
public class ConnectionAbortedException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public ConnectionAbortedException()
        : base("The connection was aborted.")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/> saying why the connection ended.</summary>
    public ConnectionAbortedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public ConnectionAbortedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
