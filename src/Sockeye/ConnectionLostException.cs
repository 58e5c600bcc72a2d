namespace Sockeye;

/// <summary>
/// Thrown from a read on a <see cref="Connection"/> whose peer reset it (RST) or vanished: the
/// connection is gone and nothing more can be sent or received.
/// </summary>
/// <remarks>It derives from <see cref="ConnectionClosedException"/>, so a handler that catches that
/// one catches this too. Named for what the handler learns (the connection is lost), not after
/// ASP.NET Core's <c>ConnectionResetException</c>, whose name it would clash with.</remarks>
public class ConnectionLostException : ConnectionClosedException
{
    /// <summary>Creates the exception with a default message.</summary>
    public ConnectionLostException()
        : base("The connection was reset by the peer.")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public ConnectionLostException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the socket error that caused it.</summary>
    public ConnectionLostException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
