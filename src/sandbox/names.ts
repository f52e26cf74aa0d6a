/**
 * Name pools for random synthetic patients. Common given names and surnames only, mixed
 * at random, so no combination stands for a real person. Surnames are weighted (listed
 * more than once) so that shared surnames such as Smith, Nguyen and Garcia are common,
 * as they are in real practices. Names with punctuation or diacritics are not here:
 * those come from the fixed edge-case patients, so their presence never depends on seed.
 */

/** Common given names from many backgrounds. */
export const GIVEN_NAMES: readonly string[] = [
  'James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David',
  'Elizabeth', 'William', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas',
  'Sarah', 'Charles', 'Karen', 'Christopher', 'Lisa', 'Daniel', 'Nancy', 'Matthew', 'Betty',
  'Anthony', 'Margaret', 'Mark', 'Sandra', 'Donald', 'Ashley', 'Steven', 'Kimberly', 'Paul',
  'Emily', 'Andrew', 'Donna', 'Joshua', 'Michelle', 'Kevin', 'Carol', 'Brian', 'Amanda',
  'George', 'Melissa', 'Edward', 'Deborah', 'Ronald', 'Stephanie', 'Timothy', 'Rebecca',
  'Jason', 'Sharon', 'Jeffrey', 'Laura', 'Ryan', 'Cynthia', 'Jacob', 'Kathleen', 'Gary',
  'Amy', 'Nicholas', 'Angela', 'Eric', 'Shirley', 'Jonathan', 'Anna', 'Stephen', 'Brenda',
  'Larry', 'Pamela', 'Justin', 'Emma', 'Scott', 'Nicole', 'Brandon', 'Helen', 'Benjamin',
  'Samantha', 'Minh', 'Thi', 'Carlos', 'Maria', 'Luis', 'Ana', 'Wei', 'Mei', 'Raj', 'Priya',
  'Hiroshi', 'Yuki', 'Ahmed', 'Fatima', 'Olga', 'Ivan', 'Kwame', 'Amara',
];

/** Surnames, weighted by repetition. */
export const SURNAMES: readonly string[] = [
  'Smith', 'Smith', 'Smith', 'Smith', 'Nguyen', 'Nguyen', 'Nguyen', 'Garcia', 'Garcia',
  'Garcia', 'Johnson', 'Johnson', 'Williams', 'Williams', 'Brown', 'Brown', 'Jones', 'Jones',
  'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson',
  'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Lee', 'Perez',
  'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson',
  'Walker', 'Young', 'Allen', 'King', 'Wright', 'Scott', 'Torres', 'Hill', 'Flores', 'Green',
  'Adams', 'Nelson', 'Baker', 'Hall', 'Rivera', 'Campbell', 'Mitchell', 'Carter', 'Roberts',
  'Patel', 'Patel', 'Kim', 'Kim', 'Chen', 'Chen', 'Tran', 'Pham', 'Le', 'Wang', 'Singh',
  'Khan', 'Cohen', 'Kowalski', 'Ivanova', 'Okafor', 'Mensah', 'Yamamoto', 'Schmidt',
];

/** Middle names, plus bare initials as some charts record them. */
export const MIDDLE_NAMES: readonly string[] = [
  'Ann', 'Marie', 'Lee', 'Lynn', 'Rose', 'Jean', 'Grace', 'Mae', 'James', 'Michael', 'Allen',
  'Edward', 'Ray', 'Wayne', 'Joseph', 'Louise', 'Elaine', 'Dean', 'J', 'A', 'M', 'R',
];
