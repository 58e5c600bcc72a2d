namespace Sockeye;

/// <summary>
/// Thrown from a read on a <see cref="Connection"/> whose peer reset it (RST) or vanished: the
/// connection is gone and nothing more can be sent or received.
/// </summary>
public class ConnectionResetException : ConnectionAbortedException
{
    /// <summary>Creates the exception with a default message.</summary>
    public ConnectionResetException()
        : base("The connection was reset by the peer.")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public ConnectionResetException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the socket error that caused it.</summary>
    public ConnectionResetException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
